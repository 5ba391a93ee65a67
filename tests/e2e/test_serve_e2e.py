"""`slick serve` as a subprocess with the real SmolLM2-135M: upload, probe, follow, download;
then kill -9 the server mid-job, restart it, and check the job finishes with each row once
and every field as before; and `slick probe` gives the same categories."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/entityquestions/test/P36.test.json"
N_ROWS = 12
PROBE = {"mode": "adaptive", "n_prompts": 3, "n_samples": 4, "max_new_tokens": 8}
SHARD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    """One `slick serve` process on a free loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self.log = log
        self._log_file = log.open("ab")
        slick = Path(sys.executable).with_name("slick")
        self.process = subprocess.Popen(
            [str(slick), "serve", "--port", str(self.port), "--data-dir", str(data_dir),
             "--shard-size", str(SHARD_SIZE), "--engine", "transformers",
             "--model", "smollm2-135m"],
            stdout=self._log_file, stderr=subprocess.STDOUT, env=env, cwd=data_dir.parent)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.tail()}"
            try:
                if self.http.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.tail()}")

    def probe(self, probe_id: str) -> dict:
        response = self.http.get(f"/v1/probes/{probe_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_finished(self, probe_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = self.probe(probe_id)
            if probe["status"] in ("succeeded", "failed", "cancelled"):
                return probe
            time.sleep(0.5)
        raise AssertionError(f"probe {probe_id} not finished after {timeout}s:\n{self.tail()}")

    def result(self, probe_id: str) -> pa.Table:
        with self.http.stream("GET", f"/v1/probes/{probe_id}/result") as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"] == "application/vnd.apache.parquet"
            data = b"".join(response.iter_bytes())
        return pq.read_table(pa.BufferReader(data))

    def metric(self, name: str) -> float:
        for line in self.http.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"no metric {name}")

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log_file.close()


@pytest.fixture(scope="module")
def converted_model() -> str:
    """Convert the embedded model once, so server startup only loads it."""
    from slick_curator.models import resolve_model

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
