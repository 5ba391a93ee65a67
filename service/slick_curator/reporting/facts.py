"""The report's fact view: free-form rows, judged fact by fact (`slick_facts`).

Counts facts per category and per label (PERSON, GPE, DATE, …), and picks a few free-form rows
per row category, and rows without facts, to show with their facts highlighted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from slick_client.schemas import (
    CATEGORIES,
    FactPublic,
    FactsReportPublic,
    FreeFormExamplePublic,
)

from slick_curator.curation import AnnotatedFile, question_and_gold
from slick_curator.curation.answers import probed_answers

__all__ = ["fact_report"]

_COLUMNS = ("slick_answer_kind", "slick_facts")


def fact_report(annotated: AnnotatedFile, *, actions: Sequence[str | None],
                reasons: Sequence[str | None], examples: int, seed: int
                ) -> FactsReportPublic | None:
    """The fact view of `annotated`; None when it has no free-form row.

    `actions` / `reasons` are the report policy's, per row; examples are a seeded pick of up
    to `examples` rows per category, shown in input order.
    """
    table = annotated.table
    if any(name not in table.column_names for name in _COLUMNS):
        return None
    kinds = table.column("slick_answer_kind").to_pylist()
    status = table.column("slick_status").to_pylist()
    long_rows = [i for i, k in enumerate(kinds) if k == "long" and status[i] != "skipped"]
    if not long_rows:
        return None
    facts = table.column("slick_facts").to_pylist()
    categories = table.column("slick_category").to_pylist()
    per_category: Counter[str] = Counter()
    per_label: dict[str, Counter[str]] = {}
    for i in long_rows:
        for fact in facts[i] or []:
            per_category[fact["category"]] += 1
            per_label.setdefault(fact["label"] or "ENTITY", Counter())[fact["category"]] += 1
    by_label = {label: {c: counts.get(c, 0) for c in CATEGORIES}
                for label, counts in sorted(per_label.items(),
                                            key=lambda kv: (-sum(kv[1].values()), kv[0]))}
    no_facts = [i for i in long_rows if status[i] == "no_facts"]
    pools = {c: [i for i in long_rows if categories[i] == c and status[i] == "probed"]
             for c in CATEGORIES}
    pools["no_facts"] = no_facts
    rng = np.random.default_rng(seed)
    answers = probed_answers(annotated)
    shown: dict[str, list[FreeFormExamplePublic]] = {}
    for name, rows in pools.items():
        picked = (sorted(int(i) for i in rng.choice(rows, size=min(examples, len(rows)),
                                                    replace=False))
                  if examples > 0 and rows else [])
        records = table.take(picked).to_pylist() if picked else []
        shown[name] = [_example(annotated, i, r, answers[i], actions[i], reasons[i])
                       for i, r in zip(picked, records, strict=True)]
    return FactsReportPublic(
        rows=len(long_rows), no_facts=len(no_facts), facts=sum(per_category.values()),
        categories={c: per_category.get(c, 0) for c in CATEGORIES}, by_label=by_label,
        examples=shown)


def _example(annotated: AnnotatedFile, row: int, record: dict[str, Any], answer: str | None,
             action: str | None, reason: str | None) -> FreeFormExamplePublic:
    question, _ = question_and_gold(record, annotated.kind, annotated.columns)
    raw_id = record.get(annotated.columns.id)
    facts = [FactPublic(text=f["text"], start=f["start"], end=f["end"],
                        label=f["label"] or "ENTITY", category=f["category"],
                        p_greedy=f.get("p_greedy"), p_sample=f.get("p_sample"))
             for f in record.get("slick_facts") or []]
    return FreeFormExamplePublic(
        row=row, id=None if raw_id is None else str(raw_id), group=record.get("slick_group"),
        category=record.get("slick_category"), question=question, answer=answer, facts=facts,
        known_share=record.get("slick_known_share"), action=action, reason=reason)
