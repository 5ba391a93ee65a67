"""Rows done / total, rate and ETA: one definition for the CLI, the API and the client."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressSnapshot:
    done: int
    total: int
    rate: float | None  # rows per second over this run (rows resumed from checkpoints excluded)
    eta_s: float | None

    def as_dict(self) -> dict:
        return {"done": self.done, "total": self.total, "rate": self.rate, "eta_s": self.eta_s}


class ProgressTracker:
    """Counts finished rows. Rows already done at start (a resumed job) don't inflate the rate."""

    def __init__(self, total: int, done: int = 0, clock=time.monotonic) -> None:
        self.total = total
        self.done = done
        self._clock = clock
        self._start = clock()
        self._start_done = done

    def advance(self, rows: int) -> ProgressSnapshot:
        self.done = min(self.total, self.done + rows)
        return self.snapshot()

    def snapshot(self) -> ProgressSnapshot:
        elapsed = self._clock() - self._start
        fresh = self.done - self._start_done
        rate = fresh / elapsed if elapsed > 0 and fresh > 0 else None
        eta = (self.total - self.done) / rate if rate else (0.0 if self.done >= self.total else None)
        return ProgressSnapshot(self.done, self.total, rate, eta)
