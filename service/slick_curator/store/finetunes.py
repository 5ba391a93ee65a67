"""Fine-tune job records: what to train, status, progress and headline results."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from slick_client.schemas import FinetuneParams, FinetuneProgress, FinetunePublic

from slick_curator.store.db import TERMINAL, Database, aware, utcnow


@dataclass
class FinetuneRecord:
    """A stored fine-tune job. `eval_probe_id` is the probe of the evaluation set (started
    by the service for `eval_dataset_id`, or given)."""

    id: str
    probe_id: str
    eval_dataset_id: str | None
    eval_probe_id: str
    status: str
    model: str
    variants: list[str]
    params: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, float | None]] = field(default_factory=dict)
    error: str | None = None
    cancel_requested: bool = False
    created_at: dt.datetime = field(default_factory=utcnow)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> FinetunePublic:
        return FinetunePublic(
            id=self.id, probe_id=self.probe_id, eval_dataset_id=self.eval_dataset_id,
            eval_probe_id=self.eval_probe_id, status=self.status, model=self.model,
            variants=self.variants, params=FinetuneParams(**self.params),
            progress=FinetuneProgress(**self.progress), results=self.results, error=self.error,
            created_at=aware(self.created_at), started_at=aware(self.started_at),
            finished_at=aware(self.finished_at))


_COLUMNS = ("id", "probe_id", "eval_dataset_id", "eval_probe_id", "status", "model", "variants",
            "params", "progress", "results", "error", "cancel_requested", "created_at",
            "started_at", "finished_at")
_JSON = ("variants", "params", "progress", "results")


def _record(row: dict[str, Any]) -> FinetuneRecord:
    values = {name: row[name] for name in _COLUMNS}
    for name in _JSON:
        values[name] = json.loads(values[name])
    return FinetuneRecord(**values)


class FinetuneStore:
    """All SQL about fine-tune jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, r: FinetuneRecord) -> None:
        values = [json.dumps(getattr(r, n)) if n in _JSON else getattr(r, n) for n in _COLUMNS]
        self.db.execute(f"INSERT INTO finetunes ({', '.join(_COLUMNS)}) "
                        f"VALUES ({', '.join('?' * len(_COLUMNS))})", values)

    def get(self, finetune_id: str) -> FinetuneRecord | None:
        rows = self.db.query("SELECT * FROM finetunes WHERE id = ?", [finetune_id])
        return _record(rows[0]) if rows else None

    def page(self, limit: int, offset: int, status: str | None = None
             ) -> tuple[list[FinetuneRecord], int]:
        """Newest first, optionally only one status."""
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self.db.lock:
            rows = self.db.query(f"SELECT * FROM finetunes {where} ORDER BY seq DESC "
                                 "LIMIT ? OFFSET ?", [*args, limit, offset])
            count = self.db.query(f"SELECT count(*) AS n FROM finetunes {where}", args)[0]["n"]
        return [_record(r) for r in rows], count

    def ids_with_status(self, *statuses: str) -> list[str]:
        """Oldest first."""
        marks = ", ".join("?" * len(statuses))
        rows = self.db.query(f"SELECT id FROM finetunes WHERE status IN ({marks}) ORDER BY seq",
                             list(statuses))
        return [r["id"] for r in rows]

    def mark_running(self, finetune_id: str) -> None:
        self.db.execute("UPDATE finetunes SET status = 'running', started_at = "
                        "coalesce(started_at, ?) WHERE id = ?", [utcnow(), finetune_id])

    def requeue(self, finetune_id: str) -> None:
        self.db.execute("UPDATE finetunes SET status = 'queued' WHERE id = ?", [finetune_id])

    def request_cancel(self, finetune_id: str) -> None:
        self.db.execute("UPDATE finetunes SET cancel_requested = true WHERE id = ?",
                        [finetune_id])

    def update_progress(self, finetune_id: str, progress: FinetuneProgress) -> None:
        self.db.execute("UPDATE finetunes SET progress = ? WHERE id = ?",
                        [progress.model_dump_json(), finetune_id])

    def finish(self, finetune_id: str, status: str, *, error: str | None = None,
               results: dict[str, dict[str, float | None]] | None = None) -> None:
        """Move a job to a terminal status; its rate and ETA no longer apply."""
        assert status in TERMINAL
        record = self.get(finetune_id)
        progress = dict(record.progress) if record else {}
        progress.update(rate=None, eta_s=0.0 if status == "succeeded" else None,
                        stage="done" if status == "succeeded" else status)
        if status == "succeeded":
            progress["done"] = progress.get("total", 0)
            progress["rows_done"] = progress.get("rows_total", 0)
        self.db.execute(
            "UPDATE finetunes SET status = ?, error = ?, finished_at = ?, progress = ?, "
            "results = coalesce(?, results) WHERE id = ?",
            [status, error, utcnow(), json.dumps(progress),
             None if results is None else json.dumps(results), finetune_id])
