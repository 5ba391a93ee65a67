"""Crash consistency (issue 16): an upload cut off between its file and its record, a SIGTERM
while the last shard finishes, a result written but never recorded. Real DuckDB, real files;
the SIGTERM and kill -9 cases on a real `slick serve` process."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import duckdb
import httpx
import pytest
from server_process import SlickServer
from service_helpers import (
    QUESTIONS,
    jsonl,
    make_settings,
    metric,
    running_app,
    start_probe,
    upload,
    wait_status,
    wait_until,
)

ROWS = QUESTIONS[:6]


def stored_status(data_dir, probe_id: str) -> str:
    con = duckdb.connect(str(data_dir / "slick.duckdb"), read_only=True)
    try:
        return con.execute("SELECT status FROM probes WHERE id = ?", [probe_id]).fetchone()[0]
    finally:
        con.close()


def test_upload_cut_off_before_its_record_is_removed_on_start(tmp_path):
    settings = make_settings(tmp_path)
    with running_app(settings, wait_ready=False) as first:
        kept = upload(first, ROWS, name="kept.jsonl")
    # What kill -9 between moving the file into uploads/ and inserting its record leaves.
    uploads = tmp_path / "uploads"
    orphan = uploads / ("ds_" + uuid.uuid4().hex[:24])
    orphan.write_bytes(jsonl(ROWS))
    staged = tmp_path / "tmp" / uuid.uuid4().hex
    staged.write_bytes(b"half an upload")
    with running_app(settings, wait_ready=False) as second:
        assert sorted(p.name for p in uploads.iterdir()) == [kept["id"]]
        assert list((tmp_path / "tmp").iterdir()) == []
        listed = second.get("/v1/datasets").json()
        assert [d["id"] for d in listed["data"]] == [kept["id"]]
        again = upload(second, ROWS, name="kept.jsonl")  # the kept one is intact and reachable
        assert again["id"] == kept["id"]


def test_kill_9_during_uploads_leaves_every_file_with_its_record(tmp_path):
    data_dir = tmp_path / "data"
    body = jsonl([{**q, "pad": "x" * 3000} for q in QUESTIONS])  # ~100 KB: a window to hit
    server = SlickServer(data_dir, SLICK_MAX_UPLOAD_BYTES=10_000_000).start()
    stop = threading.Event()
    stored: list[str] = []

    def hammer() -> None:
        n = 0
        while not stop.is_set():
            try:  # every name differs, so every upload stores a new dataset
                response = server.http.post(
                    "/v1/datasets", params={"name": f"k{n}.jsonl"}, content=body,
                    headers={"Content-Type": "application/x-ndjson"})
            except httpx.TransportError:
                return
            if response.status_code == 201:
                stored.append(response.json()["id"])
            n += 1

    thread = threading.Thread(target=hammer)
    thread.start()
    # Kill in the middle of the stream of uploads, after some have been stored (however slow
    # the machine is), so the kill lands mid-upload with finished ones around it.
    wait_until(lambda: len(stored) >= 2, "two uploads stored", timeout=120)
    time.sleep(0.3)
    server.stop(signal.SIGKILL)
    stop.set()
    thread.join(30)
    server.close()
    server = SlickServer(data_dir).start()
    try:
        listed = server.http.get("/v1/datasets", params={"limit": 1000}).json()
        ids = {d["id"] for d in listed["data"]}
        assert ids, "no upload got through before the kills"
        assert set(stored) <= ids  # every upload answered 201 is there
        assert {p.name for p in (data_dir / "uploads").iterdir()} == ids
        assert {p.name for p in (data_dir / "parsed").iterdir()} == ids  # and its parsed rows
        assert list((data_dir / "tmp").iterdir()) == []
    finally:
        server.close()


def _sigterm_while_finishing(data_dir, delay_s: float) -> tuple[str, bool, bool, str]:
    """SIGTERM a server as its one-shard probe starts; (probe id, result written, worker
    finished only after shutdown began, status stored when the server had exited)."""
    server = SlickServer(data_dir, delay_s=delay_s, SLICK_SHARD_SIZE=100).start()
    try:
        response = server.http.post("/v1/datasets", content=jsonl(ROWS),
                                    headers={"Content-Type": "application/x-ndjson"})
        probe = server.http.post("/v1/probes", json={
            "dataset_id": response.json()["id"], "mode": "full", "n_prompts": 2, "k_shot": 1,
            "n_samples": 1}).json()
        wait_until(lambda: server.http.get(f"/v1/probes/{probe['id']}").json()["status"]
                   != "queued", "the probe to start", interval=0.01)
        # uvicorn ends by re-raising the signal it handled: -15 is a clean shutdown too.
        assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM), server.tail()
    finally:
        server.close()
    log = server.tail(200_000)
    shutdown = log.find("Waiting for application shutdown")
    finished = log.find(f"[job {probe['id']}] succeeded: ")
    written = (data_dir / "probes" / probe["id"] / "result.parquet").is_file()
    late = written and finished > shutdown >= 0
    return probe["id"], written, late, stored_status(data_dir, probe["id"])


def test_sigterm_as_the_last_shard_finishes_records_the_success(tmp_path):
    late_dir = None
    for attempt, delay in enumerate((0.15, 0.25, 0.1, 0.3, 0.2, 0.35)):
        data_dir = tmp_path / f"attempt{attempt}"
        probe_id, written, late, status = _sigterm_while_finishing(data_dir, delay)
        if written:  # the worker wrote result.parquet: the database must say so too
            assert status == "succeeded", (attempt, status)
        if late:
            late_dir = data_dir
            break
    if late_dir is None:
        pytest.fail("no attempt finished its job during the shutdown; the timing of this "
                    "machine is off from what the test assumes")
    # Restarted, the job is simply done: nothing probed again.
    server = SlickServer(late_dir).start()
    try:
        probe = server.http.get(f"/v1/probes/{probe_id}").json()
        assert probe["status"] == "succeeded" and sum(probe["counts"].values()) == 6
        assert "slick_rows_probed_total 0.0" in server.http.get("/metrics").text
    finally:
        server.close()


def test_result_written_but_not_recorded_is_recognised_on_start(tmp_path):
    settings = make_settings(tmp_path)
    with running_app(settings) as first:
        dataset = upload(first, ROWS, name="written.jsonl")
        done = wait_status(first, start_probe(first, dataset["id"], k_shot=1)["id"], "succeeded")
    result = tmp_path / "probes" / done["id"] / "result.parquet"
    mtime = result.stat().st_mtime_ns
    # What a crash after the worker wrote result.parquet, before the API recorded it, leaves.
    con = duckdb.connect(str(tmp_path / "slick.duckdb"))
    con.execute("UPDATE probes SET status = 'running', counts = '{}', finished_at = NULL "
                "WHERE id = ?", [done["id"]])
    con.close()
    with running_app(settings, wait_ready=False) as second:
        probe = second.get(f"/v1/probes/{done['id']}").json()  # before any worker is ready
        assert probe["status"] == "succeeded", probe
        assert probe["counts"] == done["counts"]
        wait_until(lambda: second.get("/readyz").status_code == 200, "worker ready")
        assert metric(second, "slick_rows_probed_total") == 0
    assert result.stat().st_mtime_ns == mtime
    assert json.loads(json.dumps(probe["counts"])) == done["counts"]
