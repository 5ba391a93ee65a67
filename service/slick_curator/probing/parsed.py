"""A read `Dataset` kept as Parquet, so a file is parsed once (at upload) and every later step
(probe jobs, fine-tune evaluation sets) reads the parsed rows back instead of the file.

A folder holds `table.parquet` (every input row and column, as read), `examples.parquet` (the
valid rows as the core sees them), `errors.parquet` (the bad rows) and, written last,
`meta.json` (format, kind, column map, counts). A folder without `meta.json`, or whose files
disagree with it, is not a parsed dataset: `read_parsed` answers None and the caller reads the
file instead.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.atomic_files import write_json_atomic, write_parquet_atomic
from slick_curator.probing.columns import ColumnMap
from slick_curator.probing.reading import Dataset
from slick_curator.probing.records import Example, RowError

log = logging.getLogger(__name__)

__all__ = ["read_parsed", "write_parsed"]

VERSION = 2  # 2: examples carry their chat context
EXAMPLES = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("question", pa.string(), nullable=False),
    pa.field("answers", pa.list_(pa.string()), nullable=False),
    pa.field("group", pa.string(), nullable=False),
    pa.field("id", pa.string()),
    pa.field("context", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
             nullable=False),
])
ERRORS = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("field", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
])


def write_parsed(dataset: Dataset, folder: Path) -> bool:
    """Write `dataset` under `folder`; False (and nothing usable left) when its table cannot be
    stored as Parquet (e.g. a column of empty objects), in which case it is re-read from the
    file each time."""
    examples = pa.table({
        "row": [e.row for e in dataset.examples],
        "question": [e.question for e in dataset.examples],
        "answers": [list(e.answers) for e in dataset.examples],
        "group": [e.group for e in dataset.examples],
        "id": [e.id for e in dataset.examples],
        "context": [[{"role": r, "content": c} for r, c in e.context] for e in dataset.examples],
    }, schema=EXAMPLES)
    errors = pa.Table.from_pylist([dataclasses.asdict(e) for e in dataset.errors], schema=ERRORS)
    try:
        write_parquet_atomic(dataset.table, folder / "table.parquet")
    except (pa.ArrowException, ValueError) as exc:
        log.info("dataset kept as its file only (its table has no Parquet form: %s)", exc)
        return False
    write_parquet_atomic(examples, folder / "examples.parquet")
    write_parquet_atomic(errors, folder / "errors.parquet")
    write_json_atomic({"version": VERSION, "format": dataset.format, "kind": dataset.kind,
                       "columns": dataclasses.asdict(dataset.columns),
                       "rows": dataset.table.num_rows, "examples": len(dataset.examples),
                       "errors": len(dataset.errors)}, folder / "meta.json")
    return True


def read_parsed(folder: Path) -> Dataset | None:
    """The dataset written by `write_parsed`, or None where there is none (or it is damaged)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("version") != VERSION:
            return None
        table = pq.read_table(folder / "table.parquet")
        examples = pq.read_table(folder / "examples.parquet").cast(EXAMPLES).to_pylist()
        errors = pq.read_table(folder / "errors.parquet").cast(ERRORS).to_pylist()
    except (OSError, ValueError, pa.ArrowException) as exc:
        if (folder / "meta.json").exists():
            log.warning("parsed dataset in %s is unreadable, reading its file: %s", folder, exc)
        return None
    if (table.num_rows, len(examples), len(errors)) != (meta["rows"], meta["examples"],
                                                        meta["errors"]):
        log.warning("parsed dataset in %s is incomplete, reading its file", folder)
        return None
    return Dataset(
        table=table,
        examples=[Example(e["row"], e["question"], tuple(e["answers"]), e["group"], e["id"],
                          tuple((t["role"], t["content"]) for t in e["context"]))
                  for e in examples],
        errors=[RowError(**e) for e in errors],
        format=meta["format"], kind=meta["kind"], columns=ColumnMap(**meta["columns"]))
