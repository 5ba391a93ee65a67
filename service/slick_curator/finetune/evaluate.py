"""Scoring evaluation answers and the metrics of the fine-tune report. Plain Python + numpy.

Per answer: `abstained` when it is empty or matches an abstention phrase (the relabel phrase,
or a configured one; normalised exact match), `correct` when it is not an abstention and
matches a gold alias (the probe's match mode), `answered` = not abstained, `hallucinated` =
answered and wrong. A model trained on free-form answers answers in sentences; its answers
are judged by `sentence_judge` instead (the first sentence states the gold). Per set:
accuracy = correct / n, hallucination = hallucinated / n, abstention = abstained / n,
precision = correct / answered.

Intervals are percentile bootstrap 95% intervals over questions (`resamples` draws, seeded).
Comparisons with `original` are paired: the same resampled questions for both variants. The
wrong-answer change is (W - W_original) / W_original, W = answered-and-wrong answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from slick_client.schemas import CATEGORIES, CheckpointMetrics, EvalMetrics, Interval

from slick_curator.finetune.data import EvalRow
from slick_curator.finetune.sentence_judge import SentenceJudge
from slick_curator.probing.matching import Matcher

__all__ = ["PREDICTION_SCHEMA", "Scorer", "checkpoint_metrics", "difference", "metrics",
           "prediction_table"]

PREDICTION_SCHEMA = pa.schema([
    pa.field("variant", pa.string()),
    pa.field("checkpoint", pa.string()),
    pa.field("epoch", pa.int32()),
    pa.field("eval_row", pa.int64()),
    pa.field("id", pa.string()),
    pa.field("group", pa.string()),
    pa.field("category", pa.string()),
    pa.field("question", pa.string()),
    pa.field("gold", pa.list_(pa.string())),
    pa.field("prediction", pa.string()),
    pa.field("correct", pa.bool_()),
    pa.field("abstained", pa.bool_()),
    pa.field("answered", pa.bool_()),
    pa.field("hallucinated", pa.bool_()),
])


@dataclass(frozen=True)
class Scorer:
    """Judges answers: abstention phrases, and the probe's match mode for gold aliases; with
    `sentences`, the sentence judge (answers of a model trained on free-form answers)."""

    phrases: tuple[str, ...]
    match: str = "exact"
    sentences: bool = False

    def __post_init__(self) -> None:
        judge = SentenceJudge(self.phrases) if self.sentences else None
        object.__setattr__(self, "_judge", judge)  # frozen: built once, caches gold facts

    def __call__(self, prediction: str, golds: Sequence[str], question: str = ""
                 ) -> tuple[bool, bool]:
        """(correct, abstained) for one answer to `question`."""
        if self._judge is not None:
            return self._judge(prediction, golds, question)
        abstained = not prediction.strip() or Matcher(self.phrases, "exact")(prediction)
        correct = not abstained and Matcher(list(golds), self.match)(prediction)
        return correct, abstained


def prediction_table(variant: str, checkpoint: str, epoch: int, rows: Sequence[EvalRow],
                     answers: Sequence[str], scorer: Scorer) -> pa.Table:
    """One row per evaluation question: the answer and how it was judged."""
    columns: dict[str, list] = {f.name: [] for f in PREDICTION_SCHEMA}
    for row, answer in zip(rows, answers, strict=True):
        correct, abstained = scorer(answer, row.answers, row.question)
        values = {"variant": variant, "checkpoint": checkpoint, "epoch": epoch,
                  "eval_row": row.row, "id": row.id, "group": row.group,
                  "category": row.category, "question": row.question,
                  "gold": list(row.answers), "prediction": answer, "correct": correct,
                  "abstained": abstained, "answered": not abstained,
                  "hallucinated": not abstained and not correct}
        for name, value in values.items():
            columns[name].append(value)
    return pa.table(columns, schema=PREDICTION_SCHEMA)


def _indices(n: int, resamples: int, seed: int) -> np.ndarray | None:
    if resamples <= 0 or n == 0:
        return None
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _interval(value: float | None, draws: np.ndarray | None) -> Interval:
    if value is None:
        return Interval()
    if draws is None:
        return Interval(value=value)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return Interval(value=value)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(value=value, low=float(low), high=float(high))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def metrics(correct: Sequence[bool], abstained: Sequence[bool], *, resamples: int = 1000,
            seed: int = 0) -> EvalMetrics:
    """Accuracy, hallucination, abstention and precision of one set of answers."""
    c = np.asarray(correct, dtype=bool)
    a = np.asarray(abstained, dtype=bool)
    n = c.size
    answered = ~a
    wrong = answered & ~c
    idx = _indices(n, resamples, seed)

    def rate(flags: np.ndarray) -> Interval:
        if n == 0:
            return Interval()
        draws = None if idx is None else flags[idx].mean(axis=1)
        return _interval(float(flags.mean()), draws)

    n_answered = int(answered.sum())
    precision_value = float(c.sum() / n_answered) if n_answered else None
    precision_draws = None if idx is None else _ratio(c[idx].sum(1), answered[idx].sum(1))
    return EvalMetrics(
        n=n, correct=int(c.sum()), answered=n_answered, abstained=int(a.sum()),
        hallucinated=int(wrong.sum()), accuracy=rate(c), hallucination=rate(wrong),
        abstention=rate(a), precision=_interval(precision_value, precision_draws))


def _flags(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(table.column("correct").to_pylist(), dtype=bool),
            np.asarray(table.column("abstained").to_pylist(), dtype=bool))


def _by_row(table: pa.Table) -> pa.Table:
    return table.sort_by("eval_row")


def checkpoint_metrics(table: pa.Table, *, baseline: pa.Table | None = None,
                       resamples: int = 1000, seed: int = 0) -> CheckpointMetrics:
    """Metrics of one variant's checkpoint (its prediction rows), overall and per category;
    with `baseline` (original's rows at the same checkpoint) the wrong-answer change."""
    table = _by_row(table)
    checkpoint = table.column("checkpoint")[0].as_py() if table.num_rows else ""
    epoch = table.column("epoch")[0].as_py() if table.num_rows else 0
    correct, abstained = _flags(table)
    categories = table.column("category").to_pylist()
    by_category = {}
    for category in [*CATEGORIES, None]:
        mask = np.asarray([c == category for c in categories], dtype=bool)
        if mask.any():
            by_category[category or "unprobed"] = metrics(
                correct[mask], abstained[mask], resamples=resamples, seed=seed)
    change = None
    if baseline is not None:
        change = difference(table, baseline, "wrong_change", resamples=resamples, seed=seed)
    return CheckpointMetrics(
        checkpoint=checkpoint, epoch=epoch,
        overall=metrics(correct, abstained, resamples=resamples, seed=seed),
        by_category=by_category, wrong_change=change)


def _statistic(metric: str, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A metric per resample; arrays are (resamples, n) or (1, n)."""
    answered = ~a
    if metric == "accuracy":
        return c.mean(axis=1)
    if metric == "hallucination":
        return (answered & ~c).mean(axis=1)
    if metric == "abstention":
        return a.mean(axis=1)
    if metric == "precision":
        return _ratio(c.sum(axis=1), answered.sum(axis=1))
    if metric == "wrong":
        return (answered & ~c).sum(axis=1).astype(float)
    raise ValueError(f"unknown metric {metric!r}")


def difference(table: pa.Table, baseline: pa.Table, metric: str, *, resamples: int = 1000,
               seed: int = 0) -> Interval:
    """`metric` of `table` minus that of `baseline` on the same questions, paired bootstrap.

    `wrong_change` is the relative change in wrong answers instead of a difference.
    """
    table, baseline = _by_row(table), _by_row(baseline)
    if table.column("eval_row").to_pylist() != baseline.column("eval_row").to_pylist():
        raise ValueError("comparisons need predictions for the same evaluation rows")
    c1, a1 = _flags(table)
    c0, a0 = _flags(baseline)
    n = c1.size
    if n == 0:
        return Interval()

    def value(rows: np.ndarray | slice) -> np.ndarray:
        pick = (lambda x: x[rows]) if isinstance(rows, np.ndarray) else (lambda x: x[None, :])
        if metric == "wrong_change":
            w1 = _statistic("wrong", pick(c1), pick(a1))
            w0 = _statistic("wrong", pick(c0), pick(a0))
            return _ratio(w1 - w0, w0)
        return (_statistic(metric, pick(c1), pick(a1))
                - _statistic(metric, pick(c0), pick(a0)))

    point = float(value(slice(None))[0])
    if not np.isfinite(point):
        return Interval()
    idx = _indices(n, resamples, seed)
    return _interval(point, None if idx is None else value(idx))
