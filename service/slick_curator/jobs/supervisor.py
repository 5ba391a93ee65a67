"""What the probe and the fine-tune supervisors share: a queue of job ids, one supervisor
thread that runs them one at a time, recovery of unfinished jobs on start, and a stop."""

from __future__ import annotations

import abc
import collections
import threading
from typing import ClassVar

from slick_curator.settings import Settings
from slick_curator.store import Store


class Supervisor(abc.ABC):
    """Subclasses give `_recover` (queue the jobs a restart left unfinished) and `_loop` (run
    queued jobs until `_stopping` is set)."""

    thread_name: ClassVar[str]

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
