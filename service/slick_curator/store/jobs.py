"""What every job table shares: the lifecycle fields of a record and the SQL of a job's life.

A job is queued, running, then one of `TERMINAL`; it can be asked to cancel, requeued after a
restart, and paged newest first. `ProbeStore` and `FinetuneStore` add only what their kind
stores (progress and results) on top of `JobTable`.
"""

from __future__ import annotations

import abc
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Generic, TypeVar

from slick_curator.store.db import TERMINAL, Database, utcnow


@dataclass(kw_only=True)
class JobRecord(abc.ABC):
    """The lifecycle fields of a stored job; subclasses add what their kind stores."""

    id: str
    status: str
    error: str | None = None
    cancel_requested: bool = False
    created_at: dt.datetime = field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @abc.abstractmethod
    def public(self) -> Any:
        """The job as the API shows it (a wire schema)."""


RecordT = TypeVar("RecordT", bound=JobRecord)


class JobTable(abc.ABC, Generic[RecordT]):
    """The SQL of one job table: a row per record field (JSON text for the `json` ones)."""

    table: ClassVar[str]
    record: ClassVar[type[JobRecord]]
    json_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, db: Database) -> None:
        self.db = db
        self.columns = tuple(f.name for f in fields(self.record))
        self._versions: dict[str, int] = {}

    def version(self, job_id: str) -> int:
        """Bumped by every write of the job's row in this process (event streams watch it)."""
        return self._versions.get(job_id, 0)

    def _changed(self, job_id: str) -> None:
        with self.db.lock:
            self._versions[job_id] = self._versions.get(job_id, 0) + 1

    def insert(self, r: RecordT) -> None:
        values = [json.dumps(getattr(r, n)) if n in self.json_columns else getattr(r, n)
                  for n in self.columns]
        self.db.execute(f"INSERT INTO {self.table} ({', '.join(self.columns)}) "
                        f"VALUES ({', '.join('?' * len(self.columns))})", values)
        self._changed(r.id)

    def get(self, job_id: str) -> RecordT | None:
        rows = self.db.query(f"SELECT * FROM {self.table} WHERE id = ?", [job_id])
        return self._record(rows[0]) if rows else None

    def page(self, limit: int, offset: int, status: str | None = None
             ) -> tuple[list[RecordT], int]:
        """Newest first, optionally only one status."""
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self.db.lock:
            rows = self.db.query(f"SELECT * FROM {self.table} {where} ORDER BY seq DESC "
                                 "LIMIT ? OFFSET ?", [*args, limit, offset])
            count = self.db.query(f"SELECT count(*) AS n FROM {self.table} {where}", args)[0]["n"]
        return [self._record(r) for r in rows], count

    def ids_with_status(self, *statuses: str) -> list[str]:
        """Oldest first."""
        marks = ", ".join("?" * len(statuses))
        rows = self.db.query(f"SELECT id FROM {self.table} WHERE status IN ({marks}) "
                             "ORDER BY seq", list(statuses))
        return [r["id"] for r in rows]

    def counts_by_status(self) -> dict[str, int]:
        rows = self.db.query(f"SELECT status, count(*) AS n FROM {self.table} GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def mark_running(self, job_id: str) -> None:
        self.db.execute(f"UPDATE {self.table} SET status = 'running', "
                        "started_at = coalesce(started_at, ?) WHERE id = ?", [utcnow(), job_id])
        self._changed(job_id)

    def request_cancel(self, job_id: str) -> None:
        self.db.execute(f"UPDATE {self.table} SET cancel_requested = true WHERE id = ?",
                        [job_id])
        self._changed(job_id)

    def recover(self, finished: Callable[[RecordT], bool] = lambda record: False) -> list[str]:
        """After a restart: the unfinished jobs to queue again, oldest first. A job asked to
        cancel is cancelled; one `finished` says is done (its result on disk) is left to the
        caller; a running one goes back to queued."""
        pending = []
        for job_id in self.ids_with_status("running", "queued"):
            record = self.get(job_id)
            if record is None or finished(record):
                continue
            if record.cancel_requested:
                self.finish(job_id, "cancelled")
                continue
            if record.status == "running":
                self.requeue(job_id)
            pending.append(job_id)
        return pending

    @abc.abstractmethod
    def requeue(self, job_id: str) -> None:
        """Back to queued after a restart (what else resets is the kind's business)."""

    @abc.abstractmethod
    def finish(self, job_id: str, status: str, **outcome: Any) -> None:
        """Move the job to a terminal status, with what its kind records of the outcome."""

    def _record(self, row: dict[str, Any]) -> RecordT:
        values = {n: json.loads(row[n]) if n in self.json_columns else row[n]
                  for n in self.columns}
        return self.record(**values)  # type: ignore[return-value]
