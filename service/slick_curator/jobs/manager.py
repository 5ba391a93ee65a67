"""The job supervisor in the API process: queue, dispatch, cancel, recovery, worker lifecycle.

One supervisor thread owns the worker process and is the only code that applies worker
messages to the store; request handlers only enqueue and flag cancels. On start, jobs a crash
left queued or running are queued again; their checkpoints make them resume, not restart, and
one whose result file is already written is recorded as succeeded without probing again.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.executors import ray_options
from slick_curator.jobs import checkpoints
from slick_curator.jobs.datasets import dataset_source
from slick_curator.jobs.messages import (
    DatasetSource,
    EngineKey,
    Finished,
    JobSpec,
    LoadFailed,
    Progress,
    Ready,
    ShardDone,
    WorkerSpec,
)
from slick_curator.jobs.process import WorkerProcess
from slick_curator.jobs.supervisor import Supervisor
from slick_curator.logs import job_context
from slick_curator.metrics import Metrics
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, ProbeRecord, Store
from slick_curator.store.probes import ProbeStore

log = logging.getLogger(__name__)

_RESTART_BACKOFF_S = 30.0


class JobManager(Supervisor, thread_name="slick-jobs", kind="probe", id_param="probe_id"):
    """Runs probe jobs one at a time in a worker process; see the module docstring."""

    def __init__(self, settings: Settings, store: Store, metrics: Metrics) -> None:
        super().__init__(settings, store)
        self.metrics = metrics
        self.default_key = EngineKey(settings.engine, settings.model)
        self.load_error: str | None = None
        self._ready = False
        self._run_started = 0.0
        self._worker: WorkerProcess | None = None
        self._failed_start_at = 0.0

    # -- called from request handlers -------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the default engine has loaded; False again only if it fails to load.

        A worker switching to another engine for a job, or restarting after a crash, keeps
        the service ready: it still accepts and runs jobs.
        """
        return self._ready


    @property
    def worker_pid(self) -> int | None:
        """The worker process id (None while no worker runs)."""
        worker = self._worker
        return worker.process.pid if worker is not None else None

    def version(self, probe_id: str) -> int:
        """Bumped whenever the probe's stored state changes (SSE streams watch this)."""
        return self.store.probes.version(probe_id)

    @property
    def table(self) -> ProbeStore:
        return self.store.probes

    def _signal_running(self) -> bool:
        if self._worker is None:
            return False
        self._worker.cancel.set()
        return True

    # -- lifecycle ------------------------------------------------------------------------------

    def _recover(self) -> None:
        self._pending.extend(self.store.probes.recover(finished=self._finished_on_disk))
        if self._pending:
            log.info("recovered %d unfinished probe(s): %s", len(self._pending),
                     ", ".join(self._pending))

    def _finished_on_disk(self, record: ProbeRecord) -> bool:
        """A job whose result file was written before the server stopped (or died) before
        recording it: record it now, without probing anything again."""
        path = self.store.paths.result(record.id)
        if not path.is_file():
            return False
        try:
            counts = checkpoints.category_counts([pq.read_table(path,
                                                                columns=["slick_category"])])
        except (pa.ArrowException, OSError) as exc:  # never half-written (write_atomic)
            log.warning("probe %s: unreadable result file, probing again: %s", record.id, exc)
            path.unlink(missing_ok=True)
            return False
        self.store.probes.finish(record.id, "succeeded", counts=counts)
        _remove_tree(self.store.paths.probe(record.id) / "shards")
        with job_context(record.id):
            log.info("probe %s succeeded before the last stop; recorded from its result file",
                     record.id)
        return True

    # -- the supervisor thread ------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._step()
                except Exception:
                    log.exception("job supervisor error")
                    time.sleep(1.0)
        finally:
            self._shutdown()

    def _step(self) -> None:
        worker = self._worker
        if worker is not None:
            for message in worker.poll(0.2):
                self._apply(message)
                if isinstance(message, LoadFailed):
                    with self._lock:
                        self._worker = None
                    worker.stop(self.settings.shutdown_grace_s)
                    return
            if not worker.alive():
                for message in worker.poll(0):
                    self._apply(message)
                self._worker_died(worker)
        else:
            time.sleep(0.05)
        self._dispatch()
        self._refresh_gauges()

    def _spec(self, key: EngineKey) -> WorkerSpec:
        s = self.settings
        return WorkerSpec(key=key, device=s.device, cache_dir=str(s.cache_dir),
                          engine_options=dict(s.engine_options), parent_pid=os.getpid(),
                          log_level=s.log_level, log_json=s.log_json,
                          progress_interval_s=s.progress_interval_s,
                          executor=ray_options(s))

    def _start_worker(self, key: EngineKey) -> None:
        if self._worker is not None:
            self._worker.stop(self.settings.shutdown_grace_s)
            self._worker = None
        self._worker = WorkerProcess(self._spec(key))
        self._worker.start()

    def _dispatch(self) -> None:
        with self._lock:
            worker = self._worker
            if self._current is not None:
                return
            if not self._pending:
                idle_too_long = time.monotonic() - self._failed_start_at > _RESTART_BACKOFF_S
                if (worker is None or not worker.alive()) and idle_too_long:
                    self._start_worker(self.default_key)
                return
            probe_id = self._pending[0]
            record = self.store.probes.get(probe_id)
            if record is None or record.terminal:
                self._pending.popleft()
                return
            refused = self._not_allowed(record)
            if refused:  # stored under other settings: never load an engine not allowed now
                self._pending.popleft()
                self.store.probes.finish(probe_id, "failed", error=refused)
                return
            key = EngineKey(record.engine, record.model)
            if worker is None or worker.key != key:
                self._start_worker(key)
                return
            if not worker.ready:
                return
            self._pending.popleft()
            try:
                spec = self._job_spec(record)
            except LookupError as exc:
                self.store.probes.finish(probe_id, "failed", error=str(exc))
                return
            self.store.probes.mark_running(probe_id)
            self._current, self._run_started = probe_id, time.monotonic()
            worker.send(spec)
        with job_context(probe_id):
            log.info("dispatched to worker pid %s", worker.process.pid)

    def _not_allowed(self, record: ProbeRecord) -> str | None:
        if record.engine not in self.settings.probe_engines():
            return (f"engine {record.engine!r} is not allowed on this server now "
                    f"(SLICK_ALLOWED_ENGINES: {', '.join(self.settings.probe_engines())})")
        if record.model not in self.settings.probe_models():
            return (f"model {record.model!r} is not allowed on this server now "
                    f"(SLICK_ALLOWED_MODELS: {', '.join(self.settings.probe_models())})")
        return None

    def _job_spec(self, record: ProbeRecord) -> JobSpec:
        dataset = self._source(record.dataset_id)
        exemplars = self._source(record.exemplar_dataset_id) if record.exemplar_dataset_id else None
        return JobSpec(id=record.id, dataset=dataset, exemplars=exemplars, params=record.params,
                       shard_size=record.shard_size, job_dir=str(self.store.paths.probe(record.id)),
                       model=record.model, dataset_id=record.dataset_id,
                       exemplar_dataset_id=record.exemplar_dataset_id)

    def _source(self, dataset_id: str) -> DatasetSource:
        d: DatasetRecord | None = self.store.datasets.get(dataset_id)
        if d is None:
            raise LookupError(f"dataset {dataset_id} no longer exists")
        return dataset_source(d, self.store, self.settings)

    # -- applying worker messages -------------------------------------------------------------

    def _apply(self, message: Any) -> None:
        probes = self.store.probes
        if isinstance(message, Ready):
            if self._worker is not None and message.key == self._worker.key:
                self._worker.ready, self._worker.info = True, message.info
            if message.key == self.default_key:
                self._ready, self.load_error = True, None
        elif isinstance(message, LoadFailed):
            self._load_failed(message)
        elif isinstance(message, Progress):
            probes.update_progress(message.job_id, message.done, message.total, message.rate,
                                   message.eta_s)
            self.metrics.generations.inc(message.generations)
            self.metrics.rows_per_second.set(message.rate or 0.0)
        elif isinstance(message, ShardDone):
            probes.update_progress(message.job_id, message.done, message.total, message.rate,
                                   message.eta_s, message.counts)
            self.metrics.rows_probed.inc(message.rows)
            self.metrics.generations.inc(message.generations)
            self.metrics.generated_tokens.inc(message.generated_tokens)
            self.metrics.rows_per_second.set(message.rate or 0.0)
        elif isinstance(message, Finished):
            self._finished(message)

    def _finished(self, message: Finished) -> None:
        with self._lock:
            self.store.probes.finish(message.job_id, message.status, error=message.error,
                                     counts=message.counts)
            if message.job_id == self._current:
                self.metrics.job_duration.labels(message.status).observe(
                    time.monotonic() - self._run_started)
                self._current = None
            self.metrics.rows_per_second.set(0.0)
        with job_context(message.job_id):
            log.info("probe %s %s%s", message.job_id, message.status,
                     f": {message.error}" if message.error else "")
        if message.status == "succeeded":
            _remove_tree(self.store.paths.probe(message.job_id) / "shards")

    def _load_failed(self, message: LoadFailed) -> None:
        log.error("worker could not load %s/%s: %s", message.key.engine, message.key.model,
                  message.error)
        if message.key == self.default_key:
            self.load_error, self._ready = message.error, False
        self._failed_start_at = time.monotonic()
        with self._lock:
            # The jobs waiting for this engine cannot run; fail them rather than loop.
            for probe_id in list(self._pending):
                record = self.store.probes.get(probe_id)
                if record and EngineKey(record.engine, record.model) == message.key:
                    self._pending.remove(probe_id)
                    self.store.probes.finish(
                        probe_id, "failed",
                        error=f"could not load {message.key.engine} model "
                              f"{message.key.model!r}: {message.error}")

    def _worker_died(self, worker: WorkerProcess) -> None:
        code = worker.exitcode
        with self._lock:
            if self._worker is worker:
                self._worker = None
            current, self._current = self._current, None
            if current is not None:
                self.store.probes.finish(
                    current, "failed",
                    error=f"the worker process exited unexpectedly (exit code {code}); "
                          "finished shards are kept")
                self.metrics.job_duration.labels("failed").observe(
                    time.monotonic() - self._run_started)
        log.error("worker pid %s exited unexpectedly (exit code %s)", worker.process.pid, code)

    def _shutdown(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
            self._ready = False
        if worker is not None:
            # A job that finishes while the worker is asked to exit is recorded, not requeued.
            for message in worker.stop(self.settings.shutdown_grace_s):
                self._apply(message)
        with self._lock:
            if self._current is not None:
                self.store.probes.requeue(self._current)
                self._current = None

    def _refresh_gauges(self) -> None:
        self.metrics.queue_depth.set(len(self._pending))


def _remove_tree(path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
