"""Each input format read chunk by chunk into tables of every input row, within the limits:
the chunk types, and the table formats (CSV, Parquet, Hugging Face folders); JSON formats are
in read_json.

A row that cannot be decoded (bad UTF-8, a wrong number of CSV fields) stays in its chunk as
an all-null row and gets one `RowError`, so one bad line is that row's error, never the whole
file's. Whole-file problems raise DatasetError. CSV and Parquet are read in one pass, their
schema in the header, memory bounded by a chunk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slick_curator.probing.byte_source import ByteSource, ChunkStream
from slick_curator.probing.read_errors import file_error, too_large
from slick_curator.probing.read_limits import ReadLimits, is_text, name_problems, type_depth
from slick_curator.probing.records import RowError

__all__ = ["CHUNK_ROWS", "RawChunk", "Scan", "read_csv", "read_hf",
           "read_parquet"]

CHUNK_ROWS = 8192  # rows per chunk: Python objects of this many rows at a time
_PARQUET_BATCH = 1024  # small batches: a dictionary-encoded column can expand a lot
# The csv module's default cap (128 KiB a field) would make one long cell fail the file;
# the byte limit bounds fields instead.
csv.field_size_limit(2**31 - 1)


@dataclass
class RawChunk:
    """Input rows `first_row`.. as a table with the file's schema; `records` the decoded
    objects of JSON formats (None for an undecodable row), None for table formats; `errors`
    the rows that could not be decoded (file row numbers)."""

    table: pa.Table
    records: list[dict | None] | None
    errors: list[RowError]
    first_row: int


@dataclass
class Scan:
    """A file being read: its column names up front, then `chunks()` (one pass)."""

    names: list[str]
    chunks: Callable[[], Iterator[RawChunk]]
    rows: int | None = None  # known before the chunks (a JSONL's first pass), else None


def _check_names(names: list[str], limits: ReadLimits, name: str | None) -> None:
    problem = name_problems(names, limits)
    if problem is not None:
        raise file_error(name, problem[1], field=problem[0])


def _csv_row_problem(fields: list[str], header: list[str]) -> tuple[str, str] | None:
    if len(fields) != len(header):
        return "<line>", f"{len(fields)} field(s) where the header has {len(header)}"
    for column, cell in zip(header, fields, strict=True):
        if not is_text(cell):
            return column, "not valid UTF-8"
    return None


def read_csv(source: ByteSource, limit: int | None, limits: ReadLimits, name: str | None
             ) -> Scan:
    """Every cell as text (ids like "007" and answers like "1990" survive as written)."""
    # Bad bytes become lone surrogates, so one bad cell is found and reported by its row.
    text = io.TextIOWrapper(ChunkStream(source.chunks()), encoding="utf-8-sig",
                            errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next((fields for fields in reader if fields), None)
    except csv.Error as exc:
        raise file_error(name, f"unreadable CSV: {exc}") from exc
    if header is None:
        raise file_error(name, "file is empty")
    if not all(is_text(h) for h in header):
        raise file_error(name, "unreadable CSV: the header is not valid UTF-8")
    _check_names(header, limits, name)

    def chunks() -> Iterator[RawChunk]:
        first, errors = 0, []
        pending: list[list[str | None]] = [[] for _ in header]

        def chunk() -> RawChunk:
            table = pa.Table.from_arrays([pa.array(c, pa.string()) for c in pending],
                                         names=header)
            return RawChunk(table, None, errors, first)

        def add(fields: list[str] | None) -> None:
            for column, cell in zip(pending, fields or [None] * len(header), strict=True):
                column.append(cell)

        try:
            for fields in reader:
                if not fields:
                    continue  # a blank line is no row
                row = first + len(pending[0])
                if limit is not None and row == limit:
                    break
                problem = _csv_row_problem(fields, header)
                if problem is not None:
                    errors.append(RowError(row, *problem))
                add(None if problem else fields)
                if len(pending[0]) == CHUNK_ROWS:
                    yield chunk()
                    first, errors = first + CHUNK_ROWS, []
                    pending = [[] for _ in header]
        except csv.Error as exc:  # the reader cannot go on: this row is bad, and the file ends
            errors.append(RowError(first + len(pending[0]), "<line>", f"unreadable CSV: {exc}"))
            add(None)
        if pending[0]:
            yield chunk()

    return Scan(header, chunks)


def read_parquet(source: ByteSource, limit: int | None, limits: ReadLimits, name: str | None
                 ) -> Scan:
    # A plain file is read in place (row groups as needed); a gzipped one is decoded first.
    path = source.plain_path()
    try:
        parquet = pq.ParquetFile(path if path is not None else pa.BufferReader(source.read_all()))
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise file_error(name, f"unreadable Parquet: {exc}") from exc
    _check_schema(schema, limits, name)
    meta = parquet.metadata
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if limits.max_bytes is not None and declared > limits.max_bytes:
        raise too_large(
            name,
            "bytes",
            limits.max_bytes,
            f"the Parquet data is {declared} bytes uncompressed, more than the "
            f"limit of {limits.max_bytes}",
        )
    return Scan(schema.names, lambda: _parquet_chunks(parquet, limit, limits, name))


def read_hf(table: pa.Table, limit: int | None, limits: ReadLimits, name: str | None) -> Scan:
    """The rows of a Hugging Face save_to_disk folder (already mapped: hf_folders)."""
    _check_schema(table.schema, limits, name)
    if limit is not None:
        table = table.slice(0, limit)

    def chunks() -> Iterator[RawChunk]:
        first = 0
        for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
            yield RawChunk(pa.Table.from_batches([batch]), None, [], first)
            first += batch.num_rows

    return Scan(table.column_names, chunks)


def _check_schema(schema: pa.Schema, limits: ReadLimits, name: str | None) -> None:
    _check_names(schema.names, limits, name)
    for field in schema:
        depth = type_depth(field.type)
        if depth > limits.max_depth:
            raise file_error(
                name,
                f"column {field.name!r} is nested {depth} levels deep, more "
                f"than the limit of {limits.max_depth}",
                field=field.name,
            )


def _parquet_chunks(parquet: pq.ParquetFile, limit: int | None, limits: ReadLimits,
                    name: str | None) -> Iterator[RawChunk]:
    rows = size = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            if limit is not None and rows + batch.num_rows >= limit:
                yield RawChunk(pa.Table.from_batches([batch.slice(0, limit - rows)]), None, [],
                               rows)
                return
            size += _dense_size(batch)
            if limits.max_bytes is not None and size > limits.max_bytes:
                raise too_large(
                    name,
                    "bytes",
                    limits.max_bytes,
                    f"the Parquet data is more than {limits.max_bytes} bytes decoded, the limit",
                )
            yield RawChunk(pa.Table.from_batches([batch]), None, [], rows)
            rows += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise file_error(name, f"unreadable Parquet: {exc}") from exc


def _dense_size(batch: pa.RecordBatch) -> int:
    """Bytes of `batch` once every value is materialised (as later steps do): a dictionary
    column of one long string repeated on every row is small here and large there."""
    size = 0
    for column in batch.columns:
        if not pa.types.is_dictionary(column.type):
            size += column.nbytes
            continue
        values, indices = column.dictionary, column.indices
        size += indices.nbytes
        if (
            pa.types.is_binary(values.type)
            or pa.types.is_string(values.type)
            or (pa.types.is_large_binary(values.type) or pa.types.is_large_string(values.type))
        ):
            lengths = pc.take(pc.binary_length(values), indices)
            size += (pc.sum(lengths).as_py() or 0) + 8 * len(column)
        else:  # fixed-width or nested values: their average size per value
            size += values.nbytes * len(column) // max(len(values), 1)
    return size
