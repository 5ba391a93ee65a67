"""The client over a real socket: `slick serve` (scripted fake engine) as a subprocess on a free
loopback port. The README snippet runs verbatim (only the URL differs), sync and async, and a
real SIGINT to `slick remote probe` leaves the job running on the server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from live_support import KNOWN, N_ROWS, SAMPLED, engine_script, rows, write_jsonl
from slick_client import AsyncClient, Client, TransportError

KEY = "e2e-key"

README = Path(__file__).resolve().parents[2] / "client" / "README.md"


def readme_snippet() -> str:
    """The first Python block of the client's README, as a user would copy it."""
    text = README.read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(autouse=True)
def sleeps():
    """Real sleeps here (overrides the conftest fixture)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a `slick serve --engine fake` with an API key; stopped after the module."""
    root = tmp_path_factory.mktemp("serve")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
    log = (root / "serve.log").open("wb")
    slick = Path(sys.executable).with_name("slick")
    process = subprocess.Popen(
        [str(slick), "serve", "--port", str(port), "--data-dir", str(root / "data"),
         "--engine", "fake", "--model", "fake", "--shard-size", "4", "--api-key", KEY,
         "--engine-options", json.dumps(engine_script(delay_s=0.05))],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        with Client(url, api_key=KEY, max_retries=0, timeout=5) as c:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, (root / "serve.log").read_text()
                try:
                    if c.ready():
                        break
                except TransportError:
                    pass
                assert time.monotonic() < deadline, "slick serve not ready within 120 s"
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _expected_counts(n: int) -> dict[str, int]:
    return {"HighlyKnown": KNOWN, "MaybeKnown": 0, "WeaklyKnown": SAMPLED,
            "Unknown": n - KNOWN - SAMPLED}


def test_readme_snippet_runs_verbatim(serve: str, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "train.jsonl", rows())
    scope: dict = {"KEY": KEY}
    snippet = readme_snippet()
    assert 'Client("http://gpu-box:8000", api_key=KEY)' in snippet
    exec(snippet.replace("http://gpu-box:8000", serve), scope)
    job, table = scope["job"], scope["table"]
    assert job.status == "succeeded" and job.counts == _expected_counts(N_ROWS)
    assert table.num_rows == N_ROWS
    assert pq.read_table(tmp_path / "annotated.parquet").equals(table)
    err = capsys.readouterr().err
    assert f"{N_ROWS}/{N_ROWS} rows" in err and "rows/s" in err


def test_async_client_over_the_network(serve: str, tmp_path):
    write_jsonl(tmp_path / "async.jsonl", rows(12, start=0))

    async def main():
        async with AsyncClient(serve, api_key=KEY) as c:
            ds = await c.datasets.upload(tmp_path / "async.jsonl")
            job = await c.probes.create(ds.id, mode="adaptive", n_prompts=2, k_shot=1,
                                        n_samples=2)
            states = [state async for state in c.probes.events(job.id)]
            done = await c.probes.wait(job.id)
            path = await c.probes.result(job.id, path=tmp_path / "out.parquet")
            return states, done, path

    states, done, path = asyncio.run(main())
    assert states[-1].status == "succeeded" and len(states) >= 2  # streamed, not one answer
    assert done.counts == _expected_counts(12)
    assert pq.read_table(path).num_rows == 12


def test_sigint_to_remote_probe_leaves_the_job_running(serve: str, tmp_path):
    data = write_jsonl(tmp_path / "long.jsonl", rows(400))
    slick = Path(sys.executable).with_name("slick")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
    process = subprocess.Popen(
        [str(slick), "remote", "probe", str(data), "--server", serve, "--api-key", KEY,
         "-o", str(tmp_path / "out.parquet"), "--n-prompts", "2", "--k-shot", "1",
         "--n-samples", "2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    while b"rows [" not in seen:  # the progress bar is up: the job is being followed
        assert time.monotonic() < deadline and process.poll() is None, seen.decode()
        seen += process.stderr.read1(4096)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=30)[1]
    err = (seen + rest).decode()
    assert process.returncode == 130, err
    assert "keeps running on the server" in err
    probe_id = err.split("interrupted: probe ")[1].split()[0]
    with Client(serve, api_key=KEY) as c:
        assert c.probes.get(probe_id).status in ("queued", "running")
        c.probes.cancel(probe_id)  # tidy up: free the server's worker for other tests
        final = c.probes.get(probe_id)
    assert final.status in ("running", "cancelled")
    assert not (tmp_path / "out.parquet").exists()
