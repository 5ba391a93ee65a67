"""`slick serve` as a real subprocess on a free loopback port, with the scripted fake engine:
for what only a real server shows (signals, kill -9, its memory, its connections)."""

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
from service_helpers import SCRIPT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlickServer:
    """One `slick serve --engine fake` process; `env` adds SLICK_* settings."""

    def __init__(self, data_dir: Path, *, delay_s: float = 0.02, **env: object) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"{data_dir.name}-server.log"
        settings = {"SLICK_ENGINE_OPTIONS": json.dumps({"greedy": SCRIPT, "delay_s": delay_s}),
                    "SLICK_SHARD_SIZE": "4", "SLICK_PROGRESS_INTERVAL_S": "0",
                    "SLICK_SHUTDOWN_GRACE_S": "2", **{k: str(v) for k, v in env.items()}}
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
        self._env.update(settings)
        self.process: subprocess.Popen | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def start(self, timeout: float = 120) -> SlickServer:
        slick = Path(sys.executable).with_name("slick")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(slick), "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
                 "--engine", "fake", "--model", "fake"],
                stdout=out, stderr=subprocess.STDOUT, env=self._env, cwd=self.data_dir.parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.tail()}"
            try:
                if self.http.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send `sig` and wait for the process to end; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.http.close()
            self.http = httpx.Client(base_url=self.url, timeout=30)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self.http.close()

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""
