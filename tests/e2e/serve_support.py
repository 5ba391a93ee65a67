"""A real `slick serve` subprocess on a free loopback port, for the end-to-end tests."""

from __future__ import annotations

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

    def __init__(self, data_dir: Path, log: Path, shard_size: int = SHARD_SIZE) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self.log = log
        self._log_file = log.open("ab")
        slick = Path(sys.executable).with_name("slick")
        self.process = subprocess.Popen(
            [str(slick), "serve", "--port", str(self.port), "--data-dir", str(data_dir),
             "--shard-size", str(shard_size), "--engine", "transformers",
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
