"""The annotated file of a finished probe, written shard by shard.

Each shard's results are joined with the input rows they cover (and the skipped rows before
them) and written in row groups of `ROW_GROUP_ROWS`, so a job's results are never all in
memory at once: a million-row job holds 65,536 annotated rows, not all of them. The file equals
what `annotate` of everything at once gives, row for row.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slick_curator.atomic_files import write_atomic
from slick_curator.probing.records import RowError
from slick_curator.probing.schema import RESULT_SCHEMA, ROW, annotate

__all__ = ["ROW_GROUP_ROWS", "write_annotated"]

ROW_GROUP_ROWS = 65_536  # rows held before a row group is written


def write_annotated(path: str | os.PathLike, table: pa.Table, results: Iterable[pa.Table],
                    errors: Sequence[RowError], *, metadata: Mapping[str, Any],
                    unknown_action: str = "drop", keep_prompts: bool = False) -> None:
    """Write `annotate(table, results, errors, ...)` to `path` (complete or absent), taking
    `results` one table at a time: in input order, each covering later rows than the last."""
    options = {"metadata": metadata, "unknown_action": unknown_action,
               "keep_prompts": keep_prompts}
    errors = sorted(errors, key=lambda e: e.row)

    def chunks() -> Iterable[pa.Table]:
        start = 0
        for part in results:
            if part.num_rows == 0:
                continue
            end = pc.max(part.column(ROW)).as_py() + 1
            yield _chunk(table, start, end, part, errors, options)
            start = end
        if start < table.num_rows or start == 0:  # skipped rows after the last result
            yield _chunk(table, start, table.num_rows, RESULT_SCHEMA.empty_table(), errors,
                         options)

    def write(handle: Any) -> None:
        writer, pending, held = None, [], 0
        try:
            for chunk in chunks():
                if writer is None:
                    writer = pq.ParquetWriter(handle, chunk.schema, compression="zstd")
                pending.append(chunk)
                held += chunk.num_rows
                if held >= ROW_GROUP_ROWS:  # a row group per (small) shard made the file
                    writer.write_table(pa.concat_tables(pending))  # 17x larger
                    pending, held = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending))
        finally:
            if writer is not None:
                writer.close()

    write_atomic(path, write)


def _chunk(table: pa.Table, start: int, end: int, results: pa.Table,
           errors: Sequence[RowError], options: dict[str, Any]) -> pa.Table:
    """Input rows [start, end) annotated: row numbers made relative to the slice."""
    if start:
        rows = pc.subtract(results.column(ROW), pa.scalar(start, results.schema.field(ROW).type))
        results = results.set_column(results.schema.get_field_index(ROW), ROW, rows)
    first = bisect.bisect_left(errors, start, key=lambda e: e.row)
    last = bisect.bisect_left(errors, end, key=lambda e: e.row)
    inside = [dataclasses.replace(e, row=e.row - start) for e in errors[first:last]]
    return annotate(table.slice(start, end - start), results, inside, **options)
