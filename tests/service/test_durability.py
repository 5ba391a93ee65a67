"""Jobs survive a stopped app and a dead worker: checkpoints are the truth, nothing is lost or
computed twice, and the resumed result equals an uninterrupted run."""

from __future__ import annotations

import os
import signal

from service_helpers import (
    QUESTIONS,
    SCRIPT,
    make_settings,
    metric,
    result_table,
    running_app,
    start_probe,
    upload,
    wait_status,
    wait_until,
)

RESULT_FIELDS = ("slick_category", "slick_greedy_answers", "slick_greedy_correct",
                 "slick_exemplar_ids", "slick_n_samples", "slick_n_sample_correct")


def _shard_files(client_or_paths, probe_id):
    return sorted((client_or_paths.probe(probe_id) / "shards").glob("*.parquet"))


def test_stopped_app_resumes_from_checkpoints(tmp_path):
    settings = make_settings(tmp_path, delay_s=0.1, shard_size=3)
    with running_app(settings) as first:
        paths = first.app.state.services.store.paths
        dataset = upload(first, QUESTIONS, name="resume.jsonl")
        probe = start_probe(first, dataset["id"])
        wait_until(lambda: len(_shard_files(paths, probe["id"])) >= 3, "three checkpoints")
    # The app is stopped mid-job: the job is queued again, its finished shards on disk.
    shards = _shard_files(paths, probe["id"])
    assert 3 <= len(shards) < 10
    checkpointed_rows = 3 * len(shards)
    mtimes = {p.name: p.stat().st_mtime_ns for p in shards}

    with running_app(settings) as second:
        resumed = second.get(f"/v1/probes/{probe['id']}").json()
        assert resumed["status"] in ("queued", "running")
        # Checkpoints are never rewritten while the rest of the job runs.
        wait_until(lambda: len(_shard_files(paths, probe["id"])) > len(shards)
                   or second.get(f"/v1/probes/{probe['id']}").json()["status"] == "succeeded",
                   "progress after restart")
        for path in _shard_files(paths, probe["id"]):
            if path.name in mtimes:
                assert path.stat().st_mtime_ns == mtimes[path.name], path.name
        done = wait_status(second, probe["id"], "succeeded")
        assert done["progress"]["done"] == 30
        assert sum(done["counts"].values()) == 30
        # Only the rows without a checkpoint were probed by the restarted service.
        assert metric(second, "slick_rows_probed_total") == 30 - checkpointed_rows
        resumed_table = result_table(second, probe["id"])

        uninterrupted = start_probe(second, dataset["id"])
        wait_status(second, uninterrupted["id"], "succeeded")
        reference = result_table(second, uninterrupted["id"])

    assert resumed_table.num_rows == 30
    assert resumed_table.column("question").to_pylist() == [q["question"] for q in QUESTIONS]
    greedy = [a[0] for a in resumed_table.column("slick_greedy_answers").to_pylist()]
    assert greedy == [SCRIPT[q["question"]] for q in QUESTIONS]
    for name in RESULT_FIELDS:
        assert resumed_table.column(name).to_pylist() == reference.column(name).to_pylist(), name


def test_killed_worker_fails_the_job_and_the_service_recovers(tmp_path):
    settings = make_settings(tmp_path, delay_s=0.1, shard_size=3)
    with running_app(settings) as client:
        services = client.app.state.services
        dataset = upload(client, QUESTIONS, name="kill.jsonl")
        probe = start_probe(client, dataset["id"])
        wait_until(lambda: client.get(f"/v1/probes/{probe['id']}").json()["progress"]["done"] >= 3,
                   "a checkpoint")
        pid = services.jobs.worker_pid
        os.kill(pid, signal.SIGKILL)
        failed = wait_status(client, probe["id"], "failed")
        assert "exited unexpectedly" in failed["error"]
        assert client.get("/healthz").status_code == 200
        wait_until(lambda: services.jobs.worker_pid not in (None, pid), "a new worker")
        assert client.get("/readyz").status_code == 200
        again = start_probe(client, dataset["id"])
        assert wait_status(client, again["id"], "succeeded")["progress"]["done"] == 30


def test_jobs_queued_behind_a_stop_all_run_after_restart(tmp_path):
    settings = make_settings(tmp_path, delay_s=0.05, shard_size=5)
    with running_app(settings) as first:
        dataset = upload(first, QUESTIONS, name="queue.jsonl")
        ids = [start_probe(first, dataset["id"], seed=i)["id"] for i in range(3)]
        cancelled = ids[2]
        assert first.post(f"/v1/probes/{cancelled}/cancel").json()["status"] == "cancelled"
    with running_app(settings) as second:
        for probe_id in ids[:2]:
            assert wait_status(second, probe_id, "succeeded")["progress"]["done"] == 30
        assert second.get(f"/v1/probes/{cancelled}").json()["status"] == "cancelled"
        assert second.get("/v1/probes", params={"status": "succeeded"}).json()["count"] == 2
