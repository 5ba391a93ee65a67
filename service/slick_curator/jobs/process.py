"""The API process's handle on its worker process (spawned, never forked: torch and threads)."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from typing import Any

from slick_curator.jobs.messages import EngineKey, JobSpec, WorkerSpec
from slick_curator.jobs.worker import worker_main

log = logging.getLogger(__name__)

_CTX = mp.get_context("spawn")


class WorkerProcess:
    """One worker: start it, send it jobs, read its messages, stop it.

    Not daemonic, because engines such as vLLM start processes of their own; `stop` always
    ends it (a polite exit request, then SIGTERM, then SIGKILL).
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.ready = False
        self.info: dict[str, str] = {}
        self.cancel = _CTX.Event()
        self._commands_recv, self._commands = _CTX.Pipe(duplex=False)
        self._events, self._events_send = _CTX.Pipe(duplex=False)
        self.process = _CTX.Process(
            target=worker_main, name=f"slick-worker-{spec.key.engine}",
            args=(spec, self._commands_recv, self._events_send, self.cancel), daemon=False)

    @property
    def key(self) -> EngineKey:
        return self.spec.key

    def start(self) -> None:
        self.process.start()
        # The child holds its own ends; closing ours makes a dead child read as EOF.
        self._commands_recv.close()
        self._events_send.close()
        log.info("started worker pid %s for %s/%s", self.process.pid, self.key.engine,
                 self.key.model)

    def alive(self) -> bool:
        return self.process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def send(self, job: JobSpec) -> None:
        self.cancel.clear()
        self._commands.send(job)

    def poll(self, timeout: float) -> list[Any]:
        """Messages from the worker, waiting up to `timeout` seconds for the first."""
        out: list[Any] = []
        try:
            if not self._events.poll(timeout):
                return out
            while True:
                out.append(self._events.recv())
                if not self._events.poll(0):
                    return out
        except (EOFError, OSError):
            return out  # the worker is gone; alive() says so

    def stop(self, grace_s: float) -> list[Any]:
        """End the worker; returns the messages it sent meanwhile (a job may finish and report
        it while the worker is asked to exit: the caller must not lose that)."""
        drained: list[Any] = []
        if self.process.pid is None:
            return drained
        try:
            self._commands.send(None)
        except (OSError, ValueError):
            pass
        deadline = time.monotonic() + min(grace_s, 1.0)
        while self.process.is_alive() and time.monotonic() < deadline:
            drained += self.poll(0.05)  # read while waiting: a full pipe would block its exit
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace_s)
        if self.process.is_alive():
            log.warning("worker pid %s did not exit; killing it", self.process.pid)
            self.process.kill()
            self.process.join(5)
        drained += self.poll(0)
        for conn in (self._commands, self._events):
            conn.close()
        log.info("worker pid %s stopped (exit code %s)", self.process.pid, self.process.exitcode)
        return drained
