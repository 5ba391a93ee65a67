"""Annotated tables with free-form rows (for unit, report and fine-tune data tests), made the
way a probe makes them: FactResult and RowResult objects through `results_table` + `annotate`
(the real schema), with the facts and their categories chosen by the test, not by a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from slick_curator.probing.aggregate import least_known
from slick_curator.probing.categories import Category
from slick_curator.probing.records import RowError
from slick_curator.probing.results import FactResult, RowResult
from slick_curator.probing.schema import annotate, results_table

H, M, W, U = "HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"
# Greedy answers right, samples right, samples drawn: what makes each category (2 prompts).
_OUTCOME = {H: ([True, True], 0, 0), M: ([True, False], 0, 0), W: ([False, False], 1, 4),
            U: ([False, False], 0, 4)}


@dataclass
class Row:
    """One input row: a question, and an answer given as sentences (joined by `joiner`) with
    facts (text, category[, label]) found at their first occurrence; or a short `answer`."""

    question: str
    sentences: Sequence[str] = ()
    facts: Sequence[tuple[str, ...]] = ()
    answer: str | None = None  # a short-form row
    group: str = "P36"
    joiner: str = " "
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.answer if self.answer is not None else self.joiner.join(self.sentences)

    def spans(self) -> list[tuple[int, int]]:
        out, at = [], 0
        for s in self.sentences:
            out.append((at, at + len(s)))
            at += len(s) + len(self.joiner)
        return out


def _fact(row: Row, spec: tuple[str, ...]) -> FactResult:
    text, category, label = (*spec, "ENTITY")[:3]
    start = row.text.index(text)
    end = start + len(text)
    inside = [i for i, (a, b) in enumerate(row.spans()) if a <= start and end <= b]
    greedy, sampled, drawn = _OUTCOME[category]
    return FactResult(text=text, start=start, end=end, label=label,
                      sentence=inside[0] if inside else -1, category=Category(category),
                      greedy_answers=[text if ok else "wrong" for ok in greedy],
                      greedy_correct=list(greedy), n_sample_correct=sampled, n_samples=drawn,
                      sampling_complete=True)


def _result(i: int, row: Row) -> RowResult:
    if row.answer is not None:
        return RowResult(row=i, category=Category(H), greedy_answers=[row.answer] * 2,
                         greedy_correct=[True, True], n_sample_correct=0, n_samples=0,
                         sampling_complete=True, exemplar_ids=[["x"], ["y"]],
                         exemplar_sets=[0, 1], exemplar_pool=row.group)
    facts = [_fact(row, spec) for spec in row.facts]
    least = least_known(facts)
    return RowResult(
        row=i, category=None if least is None else least.category,
        greedy_answers=[] if least is None else least.greedy_answers,
        greedy_correct=[] if least is None else least.greedy_correct,
        n_sample_correct=0 if least is None else least.n_sample_correct,
        n_samples=0 if least is None else least.n_samples, sampling_complete=True,
        exemplar_ids=[["x"], ["y"]], exemplar_sets=[0, 1], answer_kind="long", facts=facts,
        sentences=row.spans(), exemplar_pool=f"{row.group} [long-form]")


def annotated_table(rows: Sequence[Row], *, kind: str = "chat", fmt: str = "jsonl",
                    skipped: Sequence[int] = ()) -> pa.Table:
    """The annotated table of `rows` as `kind` ("chat": messages; "qa": question + answer);
    rows in `skipped` get a row error instead of a result."""
    if kind == "chat":
        records = [{"messages": [{"role": "user", "content": r.question},
                                 {"role": "assistant", "content": r.text}],
                    "relation": r.group, **r.extra} for r in rows]
    else:
        records = [{"question": r.question, "answer": r.text, "relation": r.group, **r.extra}
                   for r in rows]
    table = pa.Table.from_pylist(records)
    results = [_result(i, r) for i, r in enumerate(rows) if i not in skipped]
    groups = {i: r.group for i, r in enumerate(rows)}
    errors = [RowError(i, "answer", "missing") for i in skipped]
    metadata = {"dataset": {"format": fmt, "kind": kind, "group_column": "relation"},
                "columns": {"group": "relation"}, "params": {"n_prompts": 2, "k_shot": 1},
                "engine": {"engine": "fake"}, "model": "fake",
                "exemplar_sets": {**{f"{g} [long-form]": [["x"], ["y"]] for g in groups.values()},
                                  **{g: [["s"], ["t"]] for g in groups.values()}}}
    return annotate(table, results_table(results, groups), errors, metadata=metadata)
