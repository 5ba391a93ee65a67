"""Each training run in its own process (spawned, never forked: torch and threads).

A run's memory (model, optimizer, adapters) goes back to the system when its process ends, so
variants never leak into each other, and a stuck run can be killed. The child dies with its
parent (PR_SET_PDEATHSIG), reports through a pipe, and stops at its next step when the shared
cancel event is set.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from slick_curator.finetune.messages import Cancelled, Failed, Finished, VariantJob
from slick_curator.processes import die_with_parent

__all__ = ["CONTEXT", "RunCancelled", "RunFailed", "RunInterrupted", "run_in_process"]

CONTEXT = mp.get_context("spawn")


class RunFailed(RuntimeError):
    """The training run raised, or its process died."""


class RunCancelled(Exception):
    """The run stopped because the cancel event was set."""


class RunInterrupted(Exception):
    """The parent asked to stop (shutdown); the run was killed and may be run again."""


def _child(job: VariantJob, conn: Connection, cancel: Event) -> None:
    # Before torch loads OpenMP: threads that spin while waiting make every op ~20x slower
    # when the cores are shared with other processes (measured on a busy 2-core machine).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a run stops
    if job.log_level:
        from slick_curator.logs import configure_logging

        configure_logging(job.log_level, job.log_json)
    from slick_curator.finetune.trainer import TrainingCancelled, train_variant
    from slick_curator.logs import job_context

    with job_context(job.job_id):
        try:
            outcome = train_variant(job, conn.send, cancel.is_set)
        except TrainingCancelled:
            conn.send(Cancelled(job.variant))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, then exit
            detail = "".join(traceback.format_exception(exc)).rstrip()
            conn.send(Failed(job.variant, f"{type(exc).__name__}: {exc}\n{detail}"))
        else:
            conn.send(Finished(job.variant, outcome))
    conn.close()


def run_in_process(
    job: VariantJob,
    on_message: Callable[[Any], None],
    *,
    cancel: Event,
    should_stop: Callable[[], bool] = lambda: False,
    grace_s: float = 10.0,
) -> dict[str, Any]:
    """Run `job` in a fresh process; every message goes to `on_message`. Returns the outcome.

    Raises RunCancelled, RunFailed, or RunInterrupted (after killing the child) when
    `should_stop()` turns true.
    """
    receive, send = CONTEXT.Pipe(duplex=False)
    process = CONTEXT.Process(target=_child, args=(job, send, cancel), daemon=True,
                              name=f"slick-finetune-{job.variant}")
    process.start()
    send.close()  # the child holds its end; ours closing makes a dead child read as EOF
    ended = False  # the child said its last word and exits by itself
    try:
        while True:
            if should_stop():
                raise RunInterrupted(f"stopped while training {job.variant!r}")
            try:
                ready = receive.poll(0.2)
                message = receive.recv() if ready else None
            except (EOFError, OSError):
                process.join(5)
                raise RunFailed(f"the training process of {job.variant!r} exited unexpectedly "
                                f"(exit code {process.exitcode})") from None
            if message is None:
                if not process.is_alive() and not receive.poll(0):
                    raise RunFailed(f"the training process of {job.variant!r} exited "
                                    f"unexpectedly (exit code {process.exitcode})")
                continue
            ended = isinstance(message, (Finished, Cancelled, Failed))
            if isinstance(message, Finished):
                return message.outcome
            if isinstance(message, Cancelled):
                raise RunCancelled(job.variant)
            if isinstance(message, Failed):
                raise RunFailed(message.error)
            on_message(message)
    finally:
        process.join(grace_s if ended else 0.1)
        if process.is_alive():
            process.terminate()
            process.join(grace_s)
        if process.is_alive():
            process.kill()
            process.join(5)
        receive.close()
