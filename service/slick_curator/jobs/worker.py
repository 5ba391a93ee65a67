"""The worker process: owns one loaded engine (or a Ray executor's) and runs one job at a time.

Started with the multiprocessing "spawn" context by `WorkerProcess`. It dies with the API
process (PR_SET_PDEATHSIG on Linux, plus a parent-pid check between engine calls), so a
kill -9 of the server never leaves an orphan writing checkpoints.
"""

from __future__ import annotations

import logging
import os
import signal
import traceback
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

from slick_curator.engines.factory import load_engine
from slick_curator.errors import scrub_paths
from slick_curator.executors.base import LocalExecutor, ShardExecutor
from slick_curator.jobs.execute import JobCancelled, parent_alive_check, run_job
from slick_curator.jobs.messages import Finished, JobSpec, LoadFailed, Ready, WorkerSpec
from slick_curator.logs import configure_logging, job_context
from slick_curator.processes import die_with_parent

log = logging.getLogger(__name__)


def load_executor(spec: WorkerSpec) -> ShardExecutor:
    """The worker's engine in this process, or engine actors on a Ray cluster."""
    if spec.executor is not None:
        from slick_curator.executors.ray_executor import RayExecutor

        return RayExecutor(spec.engine_spec(), spec.executor)
    return LocalExecutor(load_engine(spec.engine_spec()))


def worker_main(spec: WorkerSpec, commands: Connection, events: Connection, cancel: Event) -> None:
    """Entry point of the worker process."""
    die_with_parent()
    alive = parent_alive_check(spec.parent_pid)
    if not alive():
        os._exit(1)
    # Ctrl-C reaches the whole process group; the API process decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(spec.log_level, spec.log_json)
    log.info("loading %s engine with model %s", spec.key.engine, spec.key.model)
    try:
        executor = load_executor(spec)
    except Exception as exc:
        log.exception("could not load the engine")
        events.send(LoadFailed(spec.key, f"{type(exc).__name__}: {exc}"))
        return
    events.send(Ready(spec.key, executor.info()))
    log.info("engine ready: %s", executor.info())
    while alive():
        if not commands.poll(1.0):
            continue
        try:
            job = commands.recv()
        except EOFError:
            break
        if job is None:
            break
        events.send(_run(executor, job, spec, events, cancel, alive))
    executor.close()


def _run(executor: ShardExecutor, job: JobSpec, spec: WorkerSpec, events: Connection,
         cancel: Event, alive) -> Finished:
    with job_context(job.id):
        try:
            finished = run_job(executor, job, events.send, cancel.is_set, alive,
                               spec.progress_interval_s)
        except JobCancelled:
            log.info("cancelled; finished shards are kept")
            return Finished(job.id, "cancelled")
        except Exception as exc:  # noqa: BLE001 - a failing job must not kill the worker
            log.error("failed: %s", "".join(traceback.format_exception(exc)).rstrip())
            data_dir = Path(job.job_dir).parent.parent  # <data dir>/probes/<id>
            return Finished(job.id, "failed",
                            error=scrub_paths(f"{type(exc).__name__}: {exc}", data_dir))
        log.info("succeeded: %s", finished.counts)
        return finished
