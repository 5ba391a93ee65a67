"""What the probe and the fine-tune supervisors share: a queue of job ids, one supervisor
thread that runs them one at a time, cancelling, recovery of unfinished jobs on start, and a
stop."""

from __future__ import annotations

import abc
import collections
import logging
import threading
from typing import Any, ClassVar

from slick_curator.errors import Conflict, NotFound
from slick_curator.settings import Settings
from slick_curator.store import Store
from slick_curator.store.jobs import JobRecord, JobTable

log = logging.getLogger(__name__)


class Supervisor(abc.ABC):
    """Subclasses give their job table, `_recover` (queue the jobs a restart left unfinished),
    `_loop` (run queued jobs until `_stopping` is set) and `_signal_running` (ask the running
    job to stop)."""

    thread_name: ClassVar[str]
    kind: ClassVar[str]  # the job's name in messages: "probe", "fine-tune"
    id_param: ClassVar[str]  # the request parameter naming a job

    def __init_subclass__(cls, *, thread_name: str, kind: str, id_param: str,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.thread_name, cls.kind, cls.id_param = thread_name, kind, id_param

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._lock = threading.RLock()
        self._pending: collections.deque[str] = collections.deque()
        self._current: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    @property
    @abc.abstractmethod
    def table(self) -> JobTable[Any]: ...

    def submit(self, job_id: str) -> None:
        with self._lock:
            self._pending.append(job_id)

    def get_or_404(self, job_id: str) -> Any:
        """The job's record; NotFound, naming the request parameter, when there is none."""
        record = self.table.get(job_id)
        if record is None:
            raise NotFound(f"no {self.kind} {job_id!r}", param=self.id_param)
        return record

    def cancel(self, job_id: str) -> Any:
        """Cancel a queued job now, or ask the running one to stop at its next step; its
        record as it is then. NotFound for no such job, Conflict for a finished one."""
        with self._lock:
            record = self.get_or_404(job_id)
            if record.terminal:
                raise Conflict(f"{self.kind} {job_id} already finished ({record.status}); "
                               "nothing to cancel")
            self.table.request_cancel(job_id)
            if job_id == self._current and self._signal_running():
                log.info("cancel requested for running %s %s", self.kind, job_id)
            else:  # queued here, or neither queued nor running: nothing left to stop
                if job_id in self._pending:
                    self._pending.remove(job_id)
                self.table.finish(job_id, "cancelled")
                self._cancelled_before_running(record)
                log.info("cancelled queued %s %s", self.kind, job_id)
            return self.table.get(job_id)

    def _cancelled_before_running(self, record: JobRecord) -> None:
        """What else goes when a job is cancelled before it ran (nothing, by default)."""

    def start(self) -> None:
        self._recover()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; a running job goes back to queued and resumes on the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.settings.shutdown_grace_s + 30)

    @abc.abstractmethod
    def _recover(self) -> None: ...

    @abc.abstractmethod
    def _loop(self) -> None: ...

    @abc.abstractmethod
    def _signal_running(self) -> bool:
        """Ask the running job to stop; False when there is nothing to signal."""
