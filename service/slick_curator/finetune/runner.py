"""A whole fine-tune-and-verify run: every variant in its own process, then the report.

Used by `slick finetune` and by the service's job manager alike. Output folder:

    variants/<variant>/outcome.json         how the run went (curve, epochs, weight change)
    variants/<variant>/predictions.parquet  per-example answers at both checkpoints
    variants/<variant>/checkpoints/         weights, with save_checkpoints
    predictions.parquet                     every variant's predictions
    report.json, report.html                the comparison

A variant whose outcome.json exists is not trained again, so a run interrupted by a restart
resumes with the next unfinished variant.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from slick_client.schemas import FinetuneProgress, FinetuneReportPublic

from slick_curator.atomic_files import write_atomic, write_parquet_atomic
from slick_curator.finetune.messages import (
    EpochDone,
    Stage,
    Started,
    StepDone,
    planned_steps,
)
from slick_curator.finetune.process import run_in_process
from slick_curator.finetune.report import build_report, render_html
from slick_curator.finetune.spec import FinetuneSpec

__all__ = ["FinetuneSpec", "run_finetune"]

log = logging.getLogger(__name__)

OUTCOME, PREDICTIONS = "outcome.json", "predictions.parquet"
REPORT_JSON, REPORT_HTML = "report.json", "report.html"


class _Tracker:
    """Turns training messages into FinetuneProgress (steps of all variants, rate, ETA)."""

    def __init__(self, spec: FinetuneSpec, report: Callable[[FinetuneProgress], None]) -> None:
        p = spec.params
        self.report = report
        self.planned = {v: planned_steps(len(spec.plan.variants[v]), p.batch_size, p.epochs,
                                         p.max_steps) for v in spec.variants}
        self.rows_planned = {v: min(p.epochs * len(spec.plan.variants[v]),
                                    self.planned[v] * p.batch_size) for v in spec.variants}
        self.done_steps = self.done_rows = self.variants_done = 0
        self.steps = self.rows = 0  # of the variant running now
        self.variant: str | None = None
        self.epoch: int | None = None
        self.stage = "training"
        self.started = time.monotonic()
        self.counted = 0  # steps done since this run started (the rate's numerator)

    def begin(self, variant: str) -> None:
        self.variant, self.steps, self.rows, self.epoch, self.stage = variant, 0, 0, 0, "training"
        self.send()

    def finish(self, variant: str, resumed: bool = False) -> None:
        if not resumed:
            self.counted += self.planned[variant] - self.steps
        self.done_steps += self.planned[variant]
        self.done_rows += self.rows_planned[variant]
        self.variants_done += 1
        self.steps = self.rows = 0
        self.send()

    def __call__(self, message: Any) -> None:
        if isinstance(message, StepDone):
            self.steps, self.epoch, self.stage = message.step, message.epoch, "training"
            self.rows += message.rows
            self.counted += 1
        elif isinstance(message, Stage):
            self.stage = "evaluating" if message.stage.startswith("evaluating") else message.stage
            self.epoch = message.epoch
        elif isinstance(message, (Started, EpochDone)):
            pass
        self.send()

    def send(self, stage: str | None = None) -> None:
        done = self.done_steps + self.steps
        total = sum(self.planned.values())
        elapsed = time.monotonic() - self.started
        rate = self.counted / elapsed if self.counted and elapsed > 0 else None
        eta = (total - done) / rate if rate else None
        self.report(FinetuneProgress(
            done=done, total=total, rate=rate, eta_s=eta,
            rows_done=self.done_rows + self.rows, rows_total=sum(self.rows_planned.values()),
            stage=stage or self.stage, variant=self.variant, epoch=self.epoch,
            variants_done=self.variants_done))


def run_finetune(spec: FinetuneSpec, *, cancel: Event,
                 report: Callable[[FinetuneProgress], None] = lambda p: None,
                 should_stop: Callable[[], bool] = lambda: False) -> FinetuneReportPublic:
    """Train every variant (each in its own process), evaluate, write the report files.

    Raises RunCancelled / RunFailed / RunInterrupted from `process` when a run ends so.
    """
    tracker = _Tracker(spec, report)
    outcomes: dict[str, dict[str, Any]] = {}
    for variant in spec.variants:
        folder = spec.out_dir / "variants" / variant
        if (folder / OUTCOME).is_file() and (folder / PREDICTIONS).is_file():
            outcomes[variant] = json.loads((folder / OUTCOME).read_text())
            tracker.variant = variant
            tracker.finish(variant, resumed=True)
            log.info("variant %s already trained; kept", variant)
            continue
        tracker.begin(variant)
        log.info("training variant %s on %d rows", variant, len(spec.plan.variants[variant]))
        outcomes[variant] = run_in_process(spec.job(variant), tracker, cancel=cancel,
                                           should_stop=should_stop)
        tracker.finish(variant)
    tracker.send("reporting")
    predictions = pa.concat_tables(
        [pq.read_table(spec.out_dir / "variants" / v / PREDICTIONS) for v in spec.variants])
    result = build_report(spec, outcomes, predictions)
    write_parquet_atomic(predictions, spec.out_dir / PREDICTIONS)
    write_atomic(spec.out_dir / REPORT_JSON,
                 lambda f: f.write(result.model_dump_json(indent=2).encode()))
    write_atomic(spec.out_dir / REPORT_HTML, lambda f: f.write(render_html(result).encode()))
    tracker.send("done")
    return result


