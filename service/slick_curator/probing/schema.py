"""The annotated Parquet format: every input column, then the `slick_` columns.

Results travel in two shapes. A *results table* (`results_table`) holds only `slick_row` and
the `slick_` columns of probed rows; jobs checkpoint those per shard. `annotate` joins results
onto the user's input table, row for row, adding skipped rows with their error, and stores the
run's parameters in the file metadata under the key `slick`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq

from slick_curator.probing.aggregate import known_share
from slick_curator.probing.records import RowError
from slick_curator.probing.results import FactResult, RowResult

METADATA_KEY = b"slick"
ROW = "slick_row"

# One fact of a free-form answer: offsets are Python string indices into the assistant turn
# (answer[start:end] == text); `sentence` indexes slick_sentences (-1: straddles two).
FACT_TYPE = pa.struct(
    [
        pa.field("text", pa.string()),
        pa.field("start", pa.int32()),
        pa.field("end", pa.int32()),
        pa.field("label", pa.string()),
        pa.field("sentence", pa.int32()),
        pa.field("category", pa.string()),
        pa.field("p_greedy", pa.float64()),
        pa.field("p_sample", pa.float64()),
        pa.field("n_greedy_correct", pa.int32()),
        pa.field("n_sample_correct", pa.int32()),
        pa.field("n_samples", pa.int32()),
        pa.field("greedy_answers", pa.list_(pa.string())),
    ]
)
CATEGORY_PROBS_TYPE = pa.struct([pa.field(c, pa.float64()) for c in
                                 ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")])
SENTENCE_TYPE = pa.struct([pa.field("start", pa.int32()), pa.field("end", pa.int32())])

RESULT_SCHEMA = pa.schema(
    [
        pa.field(ROW, pa.int64(), nullable=False),
        pa.field("slick_group", pa.string()),
        pa.field("slick_category", pa.string()),
        pa.field("slick_p_greedy", pa.float64()),
        pa.field("slick_p_sample", pa.float64()),
        pa.field("slick_n_greedy_correct", pa.int32()),
        pa.field("slick_n_greedy", pa.int32()),
        pa.field("slick_n_sample_correct", pa.int32()),
        pa.field("slick_n_samples", pa.int32()),
        pa.field("slick_greedy_answers", pa.list_(pa.string())),
        pa.field("slick_greedy_correct", pa.list_(pa.bool_())),
        pa.field("slick_exemplar_ids", pa.list_(pa.list_(pa.string()))),
        pa.field("slick_exemplar_sets", pa.list_(pa.int32())),
        pa.field("slick_prompts", pa.list_(pa.string())),
        pa.field("slick_prompt_tokens", pa.int64()),
        pa.field("slick_generated_tokens", pa.int64()),
        pa.field("slick_answer_kind", pa.string()),
        pa.field("slick_exemplar_pool", pa.string()),
        pa.field("slick_facts", pa.list_(FACT_TYPE)),
        pa.field("slick_sentences", pa.list_(SENTENCE_TYPE)),
        pa.field("slick_known_share", pa.float64()),
        # exact mode: each category's probability under the protocol, p_i per prompt (the
        # chance one sample is correct) and the most mass a prompt left unexpanded
        pa.field("slick_category_probs", CATEGORY_PROBS_TYPE),
        pa.field("slick_p_samples", pa.list_(pa.float64())),
        pa.field("slick_p_unexplored", pa.float64()),
    ]
)
# Added by `annotate`, after the result columns.
STATUS_FIELDS = [
    pa.field("slick_status", pa.string()),
    pa.field("slick_error", pa.string()),
    pa.field("slick_recommendation", pa.string()),
]


def results_table(results: Sequence[RowResult], groups: Mapping[int, str]) -> pa.Table:
    """The `slick_` columns of probed rows, keyed by input row number."""
    columns: dict[str, list[Any]] = {f.name: [] for f in RESULT_SCHEMA}
    for r in results:
        columns[ROW].append(r.row)
        columns["slick_group"].append(groups.get(r.row))
        columns["slick_category"].append(None if r.category is None else r.category.value)
        columns["slick_p_greedy"].append(r.p_greedy)
        columns["slick_p_sample"].append(r.p_sample)
        columns["slick_n_greedy_correct"].append(r.n_greedy_correct)
        columns["slick_n_greedy"].append(r.n_greedy)
        columns["slick_n_sample_correct"].append(r.n_sample_correct)
        columns["slick_n_samples"].append(r.n_samples)
        columns["slick_greedy_answers"].append(r.greedy_answers)
        columns["slick_greedy_correct"].append(r.greedy_correct)
        columns["slick_exemplar_ids"].append(r.exemplar_ids)
        columns["slick_exemplar_sets"].append(r.exemplar_sets)
        columns["slick_prompts"].append(r.prompts)
        columns["slick_prompt_tokens"].append(r.prompt_tokens)
        columns["slick_generated_tokens"].append(r.generated_tokens)
        columns["slick_answer_kind"].append(r.answer_kind)
        columns["slick_exemplar_pool"].append(r.exemplar_pool)
        columns["slick_facts"].append(None if r.facts is None else [_fact(f) for f in r.facts])
        columns["slick_sentences"].append(
            None if r.sentences is None else [{"start": a, "end": b} for a, b in r.sentences]
        )
        columns["slick_known_share"].append(
            None if r.facts is None else known_share([f.category for f in r.facts])
        )
        columns["slick_category_probs"].append(r.category_probs)
        columns["slick_p_samples"].append(r.p_samples)
        columns["slick_p_unexplored"].append(r.p_unexplored)
    return pa.table(columns, schema=RESULT_SCHEMA)


def _fact(f: FactResult) -> dict[str, Any]:
    return {
        "text": f.text,
        "start": f.start,
        "end": f.end,
        "label": f.label,
        "sentence": f.sentence,
        "category": f.category.value,
        "p_greedy": f.p_greedy,
        "p_sample": f.p_sample,
        "n_greedy_correct": sum(f.greedy_correct),
        "n_sample_correct": f.n_sample_correct,
        "n_samples": f.n_samples,
        "greedy_answers": f.greedy_answers,
    }


def with_result_columns(table: pa.Table) -> pa.Table:
    """Null columns for result fields a checkpoint of an older release lacks."""
    for f in RESULT_SCHEMA:
        if f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(RESULT_SCHEMA.names)


def recommendation(category: str | None, unknown_action: str, status: str = "probed") -> str:
    """keep for known rows and free-form rows without facts; `unknown_action` (drop or
    relabel) for Unknown; drop if unusable."""
    if status == "no_facts":
        return "keep"
    if category is None:
        return "drop"
    return unknown_action if category == "Unknown" else "keep"


def annotate(
    table: pa.Table,
    results: pa.Table | Iterable[pa.Table],
    errors: Sequence[RowError],
    *,
    metadata: Mapping[str, Any],
    unknown_action: str = "drop",
    keep_prompts: bool = False,
) -> pa.Table:
    """Input table + `slick_` columns, same rows in the same order.

    Rows with an entry in `errors` get status `skipped`, their error text and a `drop`
    recommendation; every other row must have a result. Existing `slick_` columns of the
    input (re-probing an annotated file) are replaced.
    """
    if not isinstance(results, pa.Table):
        parts = [with_result_columns(t) for t in results]
        results = pa.concat_tables(parts) if parts else RESULT_SCHEMA.empty_table()
    results = with_result_columns(results).cast(RESULT_SCHEMA)
    position = {row: i for i, row in enumerate(results.column(ROW).to_pylist())}
    if len(position) != results.num_rows:
        raise ValueError("results hold the same row twice")
    error_text: dict[int, list[str]] = {}
    for e in errors:
        error_text.setdefault(e.row, []).append(f"{e.field}: {e.reason}")

    take, status, error, recommend = [], [], [], []
    categories = results.column("slick_category").to_pylist()
    kinds = results.column("slick_answer_kind").to_pylist()
    facts_present = results.column("slick_facts").is_valid().to_pylist()
    fact_counts = pa.compute.list_value_length(results.column("slick_facts")).to_pylist()
    for row in range(table.num_rows):
        index = position.get(row)
        take.append(index)
        if index is None:
            if row not in error_text:
                raise ValueError(f"row {row} has neither a result nor an error")
            status.append("skipped")
            error.append("; ".join(error_text[row]))
            recommend.append("drop")
        else:
            no_facts = kinds[index] == "long" and facts_present[index] and not fact_counts[index]
            status.append("no_facts" if no_facts else "probed")
            error.append(None)
            recommend.append(recommendation(categories[index], unknown_action, status[-1]))
    extra = set(position) - set(range(table.num_rows))
    if extra:
        raise ValueError(f"results for rows outside the input: {sorted(extra)[:5]}")

    joined = results.take(pa.array(take, type=pa.int64())).drop_columns([ROW])
    if not keep_prompts:
        joined = joined.drop_columns(["slick_prompts"])
    base = table.drop_columns([c for c in table.column_names if c.startswith("slick_")])
    out = base
    for name in joined.column_names:
        out = out.append_column(joined.schema.field(name), joined.column(name))
    for f, values in zip(STATUS_FIELDS, (status, error, recommend), strict=True):
        out = out.append_column(f, pa.array(values, type=f.type))
    meta = dict(out.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
    return out.replace_schema_metadata(meta)


def write_parquet(table: pa.Table, path) -> None:
    """A finished file at `path` or none (`atomic_files`)."""
    from slick_curator.atomic_files import write_parquet_atomic

    write_parquet_atomic(table, path)


def read_metadata(path) -> dict[str, Any]:
    """The run metadata (model, engine, parameters, version) of an annotated Parquet file."""
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path} is not an annotated slick-curator file (no 'slick' metadata)")
    return json.loads(meta[METADATA_KEY])
