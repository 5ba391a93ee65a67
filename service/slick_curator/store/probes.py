"""Probe job records: parameters, status, progress and category counts."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from slick_client.schemas import ProbeParams, ProbePublic, Progress

from slick_curator.store.db import TERMINAL, Database, aware, utcnow


@dataclass
class ProbeRecord:
    """A stored probe job. `shard_size` is fixed at creation so resumes shard identically."""

    id: str
    dataset_id: str
    exemplar_dataset_id: str | None
    status: str
    model: str
    engine: str
    params: dict[str, Any]
    shard_size: int
    done: int = 0
    total: int = 0
    rate: float | None = None
    eta_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    cancel_requested: bool = False
    created_at: dt.datetime = field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> ProbePublic:
        return ProbePublic(
            id=self.id, dataset_id=self.dataset_id, exemplar_dataset_id=self.exemplar_dataset_id,
            status=self.status, model=self.model, engine=self.engine,
            params=ProbeParams(**self.params),
            progress=Progress(done=self.done, total=self.total, rate=self.rate, eta_s=self.eta_s),
            counts=self.counts, error=self.error, created_at=aware(self.created_at),
            started_at=aware(self.started_at), finished_at=aware(self.finished_at),
        )


_COLUMNS = ("id", "dataset_id", "exemplar_dataset_id", "status", "model", "engine", "params",
            "shard_size", "done", "total", "rate", "eta_s", "counts", "error",
            "cancel_requested", "created_at", "started_at", "finished_at")


def _record(row: dict[str, Any]) -> ProbeRecord:
    values = {name: row[name] for name in _COLUMNS}
    values["params"] = json.loads(values["params"])
    values["counts"] = json.loads(values["counts"])
    return ProbeRecord(**values)


class ProbeStore:
    """All SQL about probe jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, r: ProbeRecord) -> None:
        values = [getattr(r, name) for name in _COLUMNS]
        values[_COLUMNS.index("params")] = json.dumps(r.params)
        values[_COLUMNS.index("counts")] = json.dumps(r.counts)
        self.db.execute(
            f"INSERT INTO probes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            values)

    def get(self, probe_id: str) -> ProbeRecord | None:
        rows = self.db.query("SELECT * FROM probes WHERE id = ?", [probe_id])
        return _record(rows[0]) if rows else None

    def page(self, limit: int, offset: int, status: str | None = None
             ) -> tuple[list[ProbeRecord], int]:
        """Newest first, optionally only one status."""
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self.db.lock:
            rows = self.db.query(f"SELECT * FROM probes {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                                 [*args, limit, offset])
            count = self.db.query(f"SELECT count(*) AS n FROM probes {where}", args)[0]["n"]
        return [_record(r) for r in rows], count

    def ids_with_status(self, *statuses: str) -> list[str]:
        """Oldest first."""
        marks = ", ".join("?" * len(statuses))
        rows = self.db.query(f"SELECT id FROM probes WHERE status IN ({marks}) ORDER BY seq",
                             list(statuses))
        return [r["id"] for r in rows]

    def counts_by_status(self) -> dict[str, int]:
        rows = self.db.query("SELECT status, count(*) AS n FROM probes GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def mark_running(self, probe_id: str) -> None:
        self.db.execute(
            "UPDATE probes SET status = 'running', started_at = coalesce(started_at, ?) "
            "WHERE id = ?", [utcnow(), probe_id])

    def requeue(self, probe_id: str) -> None:
        self.db.execute("UPDATE probes SET status = 'queued', rate = NULL, eta_s = NULL "
                        "WHERE id = ?", [probe_id])

    def request_cancel(self, probe_id: str) -> None:
        self.db.execute("UPDATE probes SET cancel_requested = true WHERE id = ?", [probe_id])

    def update_progress(self, probe_id: str, done: int, total: int, rate: float | None,
                        eta_s: float | None, counts: dict[str, int] | None = None) -> None:
        if counts is None:
            self.db.execute("UPDATE probes SET done = ?, total = ?, rate = ?, eta_s = ? "
                            "WHERE id = ?", [done, total, rate, eta_s, probe_id])
        else:
            self.db.execute("UPDATE probes SET done = ?, total = ?, rate = ?, eta_s = ?, "
                            "counts = ? WHERE id = ?",
                            [done, total, rate, eta_s, json.dumps(counts), probe_id])

    def finish(self, probe_id: str, status: str, *, error: str | None = None,
               counts: dict[str, int] | None = None) -> None:
        """Move a job to a terminal status (its rate and ETA no longer apply)."""
        assert status in TERMINAL
        sets = "status = ?, error = ?, finished_at = ?, rate = NULL"
        args: list[Any] = [status, error, utcnow()]
        sets += ", done = total, eta_s = 0" if status == "succeeded" else ", eta_s = NULL"
        if counts is not None:
            sets += ", counts = ?"
            args.append(json.dumps(counts))
        self.db.execute(f"UPDATE probes SET {sets} WHERE id = ?", [*args, probe_id])
