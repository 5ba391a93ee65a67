"""Fine-tune job records: what to train, status, progress and headline results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slick_client.schemas import FinetuneParams, FinetuneProgress, FinetunePublic

from slick_curator.store.db import TERMINAL, aware, utcnow
from slick_curator.store.jobs import JobRecord, JobTable


@dataclass(kw_only=True)
class FinetuneRecord(JobRecord):
    """A stored fine-tune job. `eval_probe_id` is the probe of the evaluation set (started
    by the service for `eval_dataset_id`, or given)."""

    probe_id: str
    eval_dataset_id: str | None
    eval_probe_id: str
    model: str
    variants: list[str]
    params: dict[str, Any]
    progress: dict[str, Any] = field(default_factory=dict)
    results: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def public(self) -> FinetunePublic:
        return FinetunePublic(
            id=self.id, probe_id=self.probe_id, eval_dataset_id=self.eval_dataset_id,
            eval_probe_id=self.eval_probe_id, status=self.status, model=self.model,
            variants=self.variants, params=FinetuneParams(**self.params),
            progress=FinetuneProgress(**self.progress), results=self.results, error=self.error,
            created_at=aware(self.created_at), started_at=aware(self.started_at),
            finished_at=aware(self.finished_at))


class FinetuneStore(JobTable[FinetuneRecord]):
    """All SQL about fine-tune jobs."""

    table, record = "finetunes", FinetuneRecord
    json_columns = ("variants", "params", "progress", "results")

    def requeue(self, finetune_id: str) -> None:
        self.db.execute("UPDATE finetunes SET status = 'queued' WHERE id = ?", [finetune_id])
        self._changed(finetune_id)

    def update_progress(self, finetune_id: str, progress: FinetuneProgress) -> None:
        self.db.execute("UPDATE finetunes SET progress = ? WHERE id = ?",
                        [progress.model_dump_json(), finetune_id])
        self._changed(finetune_id)

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
        self._changed(finetune_id)
