"""Probe job records: parameters, status, progress and category counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slick_client.schemas import ProbeParams, ProbePublic, Progress

from slick_curator.store.db import TERMINAL, aware, utcnow
from slick_curator.store.jobs import JobRecord, JobTable


@dataclass(kw_only=True)
class ProbeRecord(JobRecord):
    """A stored probe job. `shard_size` is fixed at creation so resumes shard identically."""

    dataset_id: str
    exemplar_dataset_id: str | None
    model: str
    engine: str
    params: dict[str, Any]
    shard_size: int
    done: int = 0
    total: int = 0
    rate: float | None = None
    eta_s: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def public(self) -> ProbePublic:
        return ProbePublic(
            id=self.id, dataset_id=self.dataset_id, exemplar_dataset_id=self.exemplar_dataset_id,
            status=self.status, model=self.model, engine=self.engine,
            params=ProbeParams(**self.params),
            progress=Progress(done=self.done, total=self.total, rate=self.rate, eta_s=self.eta_s),
            counts=self.counts, error=self.error, created_at=aware(self.created_at),
            started_at=aware(self.started_at), finished_at=aware(self.finished_at),
        )


class ProbeStore(JobTable[ProbeRecord]):
    """All SQL about probe jobs."""

    table, record, json_columns = "probes", ProbeRecord, ("params", "counts")

    def requeue(self, probe_id: str) -> None:
        self.db.execute("UPDATE probes SET status = 'queued', rate = NULL, eta_s = NULL "
                        "WHERE id = ?", [probe_id])
        self._changed(probe_id)

    def update_progress(self, probe_id: str, done: int, total: int, rate: float | None,
                        eta_s: float | None, counts: dict[str, int] | None = None) -> None:
        if counts is None:
            self.db.execute("UPDATE probes SET done = ?, total = ?, rate = ?, eta_s = ? "
                            "WHERE id = ?", [done, total, rate, eta_s, probe_id])
        else:
            self.db.execute("UPDATE probes SET done = ?, total = ?, rate = ?, eta_s = ?, "
                            "counts = ? WHERE id = ?",
                            [done, total, rate, eta_s, json.dumps(counts), probe_id])
        self._changed(probe_id)

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
        self._changed(probe_id)
