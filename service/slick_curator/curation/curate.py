"""Apply a policy to an annotated table: decisions, relabels and trims, and the curated
table."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
from slick_client.schemas import CurationParams, CurationSummary

from slick_curator.curation.annotated import AnnotatedFile
from slick_curator.curation.answers import probed_answers, replace_answers
from slick_curator.curation.policies import decide
from slick_curator.curation.relabel import relabel_rows
from slick_curator.curation.trim import Trim
from slick_curator.probing.aggregate import known_share

__all__ = ["CURATION_KEY", "Curated", "curate"]

CURATION_KEY = b"slick_curation"
ACTION, REASON = "slick_action", "slick_reason"


@dataclass
class Curated:
    """Every input row with `slick_action` and `slick_reason` added, relabels and trims
    applied. A trimmed row's answer is the trimmed text, and its `slick_facts`,
    `slick_sentences` and `slick_known_share` describe that text (the kept facts, offsets into
    it); its category and P columns stay those the probe gave the whole answer.

    `output()` is the training set (kept, relabelled and trimmed rows); `summary` counts what
    the policy did, with rows in = kept + dropped + relabelled + trimmed.
    """

    table: pa.Table
    summary: CurationSummary
    annotated: AnnotatedFile

    def output(self, *, all_rows: bool = False, drop_annotations: bool = False) -> pa.Table:
        """The rows to train on (every row with `all_rows`), `slick_` columns optional."""
        table = self.table
        if not all_rows:
            keep = pa.array([a != "drop" for a in table.column(ACTION).to_pylist()],
                            type=pa.bool_())
            table = table.filter(keep)
        if drop_annotations:
            table = table.drop_columns([c for c in table.column_names if c.startswith("slick_")])
        return table


def curate(annotated: AnnotatedFile, params: CurationParams | None = None) -> Curated:
    """Decide every row of `annotated` under `params` (default: filter Unknown)."""
    params = params or CurationParams()
    answers = probed_answers(annotated) if params.policy == "trim" else None
    decisions = decide(annotated.table, params, answers=answers)
    relabelled = [i for i, a in enumerate(decisions.actions) if a == "relabel"]
    table = relabel_rows(annotated.table, relabelled, params.abstention, kind=annotated.kind,
                         columns=annotated.columns)
    trims = {i: t for i, t in decisions.trimmed.items() if decisions.actions[i] == "trim"}
    table = replace_answers(table, {i: t.text for i, t in trims.items() if t.text is not None},
                            kind=annotated.kind, columns=annotated.columns)
    table = _rebase_facts(table, trims)
    table = table.append_column(pa.field(ACTION, pa.string()),
                                pa.array(decisions.actions, pa.string()))
    table = table.append_column(pa.field(REASON, pa.string()),
                                pa.array(decisions.reasons, pa.string()))
    meta = dict(table.schema.metadata or {})
    meta[CURATION_KEY] = params.model_dump_json().encode()
    table = table.replace_schema_metadata(meta)
    return Curated(table, decisions.summary(params), annotated)


def _rebase_facts(table: pa.Table, trims: dict[int, Trim]) -> pa.Table:
    """Trimmed rows' `slick_facts` / `slick_sentences` / `slick_known_share` for the trimmed
    answer: the kept facts and sentences, offsets into the new text."""
    names = ("slick_facts", "slick_sentences", "slick_known_share")
    if not trims or any(n not in table.column_names for n in names):
        return table
    facts, sentences, share = (table.column(n).to_pylist() for n in names)
    for i, trim in trims.items():
        facts[i], sentences[i] = trim.rebase(facts[i] or [], sentences[i] or [])
        share[i] = known_share([f["category"] for f in facts[i]])
    for name, values in zip(names, (facts, sentences, share), strict=True):
        index = table.column_names.index(name)
        table = table.set_column(index, table.schema.field(index),
                                 pa.array(values, type=table.schema.field(index).type))
    return table


def curation_metadata(table: pa.Table) -> dict | None:
    """The policy parameters a curated table was made with (None if it was not curated)."""
    raw = (table.schema.metadata or {}).get(CURATION_KEY)
    return None if raw is None else json.loads(raw)
