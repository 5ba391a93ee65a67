"""`slick serve` as a subprocess with the real SmolLM2-135M: upload, probe, follow, download;
then kill -9 the server mid-job, restart it, and check the job finishes with each row once
and every field as before; and `slick probe` gives the same categories."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from serve_support import Server, _alive, _children

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/entityquestions/test/P36.test.json"
N_ROWS = 12
PROBE = {"mode": "adaptive", "n_prompts": 3, "n_samples": 4, "max_new_tokens": 8}
SHARD_SIZE = 2  # the server's (serve_support.Server's default)


@pytest.fixture(scope="module")
def converted_model() -> str:
    """Convert the embedded model once, so server startup only loads it."""
    from slick_curator.weights import resolve_model

    return resolve_model()


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory) -> Path:
    assert DATA.is_file(), f"EntityQuestions data missing at {DATA}"
    rows = json.loads(DATA.read_text())[:N_ROWS]
    path = tmp_path_factory.mktemp("data") / "P36.test.json"  # the name gives group P36
    path.write_text(json.dumps(rows))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def first_run(converted_model, dataset_file, workdir):
    """An uninterrupted probe through the server: returns (dataset id, result table)."""
    server = Server(workdir / "data", workdir / "server.log")
    try:
        server.wait_ready()
        with dataset_file.open("rb") as f:
            response = server.http.post("/v1/datasets",
                                        files={"file": (dataset_file.name, f, "application/json")})
        assert response.status_code == 201, response.text
        dataset = response.json()
        assert (dataset["rows"], dataset["valid_rows"], dataset["groups"]) == (
            N_ROWS, N_ROWS, {"P36": N_ROWS})

        response = server.http.post("/v1/probes", json={"dataset_id": dataset["id"], **PROBE})
        assert response.status_code == 202, response.text
        probe_id = response.json()["id"]

        events = []
        with server.http.stream("GET", f"/v1/probes/{probe_id}/events",
                                timeout=httpx.Timeout(60, read=300)) as stream:
            assert stream.status_code == 200
            name, deadline = None, time.monotonic() + 900
            for line in stream.iter_lines():
                assert time.monotonic() < deadline, f"no `end` event in 900s:\n{server.tail()}"
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))
        assert events[-1][0] == "end", events[-3:]
        final = events[-1][1]
        assert final["status"] == "succeeded", final
        done_values = [e["progress"]["done"] for name, e in events if name == "progress"]
        assert done_values == sorted(done_values) and len(set(done_values)) >= 2
        assert sum(final["counts"].values()) == N_ROWS
        table = server.result(probe_id)
        return dataset["id"], table
    finally:
        server.stop()


def test_upload_probe_follow_download(first_run, dataset_file):
    _, table = first_run
    rows = json.loads(dataset_file.read_text())
    assert table.num_rows == N_ROWS  # rows in = rows out
    assert table.column("question").to_pylist() == [r["question"] for r in rows]
    assert set(table.column("slick_status").to_pylist()) == {"probed"}
    assert set(table.column("slick_category").to_pylist()) <= {
        "HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"}
    greedy = table.column("slick_greedy_answers").to_pylist()
    assert all(len(answers) == PROBE["n_prompts"] for answers in greedy)
    meta = json.loads(table.schema.metadata[b"slick"])
    assert meta["engine"]["engine"] == "transformers" and meta["shard_size"] == SHARD_SIZE


def test_kill_9_mid_job_then_resume(first_run, workdir):
    dataset_id, reference = first_run
    server = Server(workdir / "data", workdir / "server.log")
    try:
        server.wait_ready()
        response = server.http.post("/v1/probes", json={"dataset_id": dataset_id, **PROBE})
        assert response.status_code == 202, response.text
        probe_id = response.json()["id"]
        deadline = time.monotonic() + 300
        while True:
            probe = server.probe(probe_id)
            assert probe["status"] in ("queued", "running"), f"finished before the kill: {probe}"
            shards = workdir / "data" / "probes" / probe_id / "shards"
            if probe["progress"]["done"] >= SHARD_SIZE and list(shards.glob("*.parquet")):
                break
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.1)
        workers = _children(server.process.pid)
        assert workers, "the server has no worker process"
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    finally:
        server.stop()
    # The worker dies with the server (no orphan writing checkpoints).
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, f"orphaned worker(s): {workers}"
        time.sleep(0.2)
    checkpointed = len(list(shards.glob("*.parquet")))
    assert 1 <= checkpointed < N_ROWS // SHARD_SIZE

    restarted = Server(workdir / "data", workdir / "server.log")
    try:
        restarted.wait_ready()
        final = restarted.wait_finished(probe_id)
        assert final["status"] == "succeeded", f"{final}\n{restarted.tail()}"
        assert final["progress"]["done"] == N_ROWS
        # Only rows without a checkpoint were probed again.
        assert restarted.metric("slick_rows_probed_total") == N_ROWS - checkpointed * SHARD_SIZE
        table = restarted.result(probe_id)
    finally:
        restarted.stop()
    assert table.num_rows == N_ROWS
    questions = table.column("question").to_pylist()
    assert questions == reference.column("question").to_pylist()
    assert len(set(questions)) == N_ROWS  # every row exactly once
    # Every slick_ field, sampled ones included: each sample has its own random stream.
    for name in reference.column_names:
        if name.startswith("slick_"):
            assert table.column(name).to_pylist() == reference.column(name).to_pylist(), name


def test_the_cli_gives_the_service_categories(first_run, dataset_file, tmp_path):
    """`slick probe` in-process, with another shard size, equals the service's job."""
    from click.testing import CliRunner
    from slick_curator.cli import cli

    _, reference = first_run
    out = tmp_path / "cli.parquet"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in PROBE.items()]
    result = CliRunner().invoke(cli, ["probe", str(dataset_file), "-o", str(out), *flags,
                                      "--shard-size", "64", "--no-progress"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    for name in ("slick_category", "slick_greedy_answers", "slick_n_sample_correct",
                 "slick_n_samples", "slick_p_sample", "slick_exemplar_ids", "slick_exemplar_sets"):
        assert table.column(name).to_pylist() == reference.column(name).to_pylist(), name
