"""Apply a policy to an annotated table: decisions, relabels, and the curated table."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
from slick_client.models import CurationParams, CurationSummary

from slick_curator.curation.annotated import AnnotatedFile
from slick_curator.curation.policies import decide
from slick_curator.curation.relabel import relabel_rows

__all__ = ["CURATION_KEY", "Curated", "curate"]

CURATION_KEY = b"slick_curation"
ACTION, REASON = "slick_action", "slick_reason"


@dataclass
class Curated:
    """Every input row with `slick_action` and `slick_reason` added and relabels applied.

    `output()` is the training set (kept and relabelled rows); `summary` counts what the
    policy did, with rows in = kept + dropped + relabelled.
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
    decisions = decide(annotated.table, params)
    relabelled = [i for i, a in enumerate(decisions.actions) if a == "relabel"]
    table = relabel_rows(annotated.table, relabelled, params.abstention, kind=annotated.kind,
                         columns=annotated.columns)
    table = table.append_column(pa.field(ACTION, pa.string()),
                                pa.array(decisions.actions, pa.string()))
    table = table.append_column(pa.field(REASON, pa.string()),
                                pa.array(decisions.reasons, pa.string()))
    meta = dict(table.schema.metadata or {})
    meta[CURATION_KEY] = params.model_dump_json().encode()
    table = table.replace_schema_metadata(meta)
    return Curated(table, decisions.summary(params), annotated)


def curation_metadata(table: pa.Table) -> dict | None:
    """The policy parameters a curated table was made with (None if it was not curated)."""
    raw = (table.schema.metadata or {}).get(CURATION_KEY)
    return None if raw is None else json.loads(raw)
