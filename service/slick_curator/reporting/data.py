"""The numbers behind a report: categories overall and per group, P_greedy / P_sample
histograms, examples per category, the policy's effect, exemplar-set health (greedy accuracy
per exemplar set, outliers flagged: see `report.exemplar_sets`), the fact view of free-form
rows (`report.facts`) and how the file was made."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from slick_client.schemas import (
    CATEGORIES,
    CurationParams,
    ExamplePublic,
    GroupPublic,
    HistogramPublic,
    ReportPublic,
    RunPublic,
)

from slick_curator.curation import AnnotatedFile, curate, question_and_gold
from slick_curator.reporting.exemplar_sets import exemplar_set_health
from slick_curator.reporting.facts import fact_report

__all__ = ["BINS", "MAX_GROUPS", "build_report"]

# Exactly 0, ten bins over (0, 1), exactly 1: the ends are categories' borders, so they are
# bins of their own (P_greedy = 1 is HighlyKnown, P_greedy = 0 is Weakly/Unknown).
BINS = ["0", *(f"({i / 10:g}, {(i + 1) / 10:g}]" for i in range(9)), "(0.9, 1)", "1"]
MAX_GROUPS = 60
MAX_SKIPPED = 20


def bin_of(value: float) -> int:
    """The index in BINS of a share in [0, 1]."""
    if value <= 0:
        return 0
    if value >= 1:
        return len(BINS) - 1
    return min(10, max(1, math.ceil(value * 10 - 1e-9)))


def build_report(annotated: AnnotatedFile, params: CurationParams | None = None, *,
                 examples: int = 5, probe_id: str | None = None) -> ReportPublic:
    """Everything a report shows for `annotated`, the policy effect under `params`.

    Exemplar sets: greedy accuracy of each (group, set index) over the probed rows' prompts
    built from it, flagged as an outlier when it is more than 15 points from the group's other
    unflagged sets and a two-proportion z-test gives |z| > 3 (more for files with many sets;
    the rule in full: `slick_curator.reporting.exemplar_sets`).
    """
    params = params or CurationParams()
    table = annotated.table
    categories = table.column("slick_category").to_pylist()
    status = table.column("slick_status").to_pylist()
    probed = [i for i, s in enumerate(status) if s == "probed" and categories[i] is not None]
    no_facts = sum(1 for s in status if s == "no_facts")
    kinds = _column(table, "slick_answer_kind")
    counted = {*probed, *(i for i, s in enumerate(status) if s == "no_facts")}
    answer_kinds = Counter(kinds[i] for i in counted if kinds[i] is not None)
    counts = Counter(categories[i] for i in probed)
    by_category = {c: counts.get(c, 0) for c in CATEGORIES}
    shares = {c: (n / len(probed) if probed else 0.0) for c, n in by_category.items()}

    groups = table.column("slick_group").to_pylist()
    per_group: dict[str, Counter[str]] = {}
    for i in probed:
        per_group.setdefault(groups[i] or "", Counter())[categories[i]] += 1
    ordered = sorted(per_group.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    group_rows = [GroupPublic(group=g, rows=sum(c.values()),
                              counts={k: c.get(k, 0) for k in CATEGORIES})
                  for g, c in ordered[:MAX_GROUPS]]

    p_sample = _column(table, "slick_p_sample")
    tokens = {name: int(sum(v or 0 for v in _column(table, f"slick_{name}_tokens")))
              for name in ("prompt", "generated") if f"slick_{name}_tokens" in table.column_names}
    health = exemplar_set_health(table, probed, annotated.metadata)
    curated = curate(annotated, params)
    actions = curated.table.column("slick_action").to_pylist()
    reasons = curated.table.column("slick_reason").to_pylist()
    return ReportPublic(
        run=_run(annotated, probe_id), rows=table.num_rows, probed=len(probed),
        skipped=table.num_rows - len(probed) - no_facts, categories=by_category, shares=shares,
        groups=group_rows, groups_total=len(per_group),
        p_greedy=_histogram(probed, categories, _column(table, "slick_p_greedy")),
        p_sample=_histogram(probed, categories, p_sample), tokens=tokens,
        curation=curated.summary,
        examples=_examples(annotated, probed, categories, examples, params.seed),
        no_facts=no_facts, answer_kinds={k: answer_kinds[k] for k in ("short", "long")
                                         if answer_kinds[k]},
        facts=fact_report(annotated, actions=actions, reasons=reasons, examples=examples,
                          seed=params.seed),
        skipped_rows=_skipped(annotated, status, categories),
        exemplar_sets=health.sets, exemplar_sets_total=health.total,
        exemplar_sets_flagged=health.flagged, exemplar_sets_min_z=health.min_z,
        warnings=[str(w) for w in annotated.metadata.get("warnings") or []])


def _column(table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [
        None] * table.num_rows


def _histogram(rows: list[int], categories: list[str | None],
               values: list[float | None]) -> HistogramPublic:
    counts = {c: [0] * len(BINS) for c in CATEGORIES}
    missing = 0
    for i in rows:
        value = values[i]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            missing += 1
            continue
        counts[categories[i]][bin_of(value)] += 1  # type: ignore[index]
    return HistogramPublic(bins=list(BINS), counts=counts, missing=missing)


def _run(annotated: AnnotatedFile, probe_id: str | None) -> RunPublic:
    meta = annotated.metadata
    engine = {str(k): str(v) for k, v in (meta.get("engine") or {}).items()}
    return RunPublic(
        probe_id=probe_id or meta.get("probe_id"), source=meta.get("source"),
        model=meta.get("model") or engine.get("model"), engine=engine,
        params=dict(meta.get("params") or {}), dataset=dict(meta.get("dataset") or {}),
        exemplar_source=meta.get("exemplar_source"), created_at=meta.get("created_at"),
        version=meta.get("slick_curator_version"))


def _example(annotated: AnnotatedFile, row: int, record: dict[str, Any]) -> ExamplePublic:
    question, gold = question_and_gold(record, annotated.kind, annotated.columns)
    raw_id = record.get(annotated.columns.id)
    return ExamplePublic(
        row=row, id=None if raw_id is None else str(raw_id), group=record.get("slick_group"),
        category=record.get("slick_category"), question=question, gold=gold,
        greedy_answers=[a or "" for a in record.get("slick_greedy_answers") or []],
        greedy_correct=[bool(c) for c in record.get("slick_greedy_correct") or []],
        p_greedy=record.get("slick_p_greedy"), p_sample=record.get("slick_p_sample"),
        n_sample_correct=record.get("slick_n_sample_correct"),
        n_samples=record.get("slick_n_samples"), error=record.get("slick_error"))


def _examples(annotated: AnnotatedFile, probed: list[int], categories: list[str | None],
              n: int, seed: int) -> dict[str, list[ExamplePublic]]:
    """Up to `n` rows per category, a seeded pick shown in input order."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[ExamplePublic]] = {}
    for category in CATEGORIES:
        rows = [i for i in probed if categories[i] == category]
        if n <= 0 or not rows:
            out[category] = []
            continue
        picked = sorted(int(i) for i in rng.choice(rows, size=min(n, len(rows)), replace=False))
        records = annotated.table.take(picked).to_pylist()
        out[category] = [_example(annotated, i, r) for i, r in zip(picked, records, strict=True)]
    return out


def _skipped(annotated: AnnotatedFile, status: list[str | None],
             categories: list[str | None]) -> list[ExamplePublic]:
    rows = [i for i, s in enumerate(status)
            if s != "no_facts" and (s != "probed" or categories[i] is None)]
    picked = rows[:MAX_SKIPPED]
    if not picked:
        return []
    records = annotated.table.take(picked).to_pylist()
    return [_example(annotated, i, r) for i, r in zip(picked, records, strict=True)]
