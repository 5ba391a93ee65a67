"""Each input format to one table of every input row, within the reader's limits.

A row that cannot be decoded (invalid JSON, bad UTF-8, a wrong number of CSV fields, a value
nested too deep) stays in the table as an all-null row and gets one `RowError`, so one bad
line is that row's error, never the whole file's. Whole-file problems raise DatasetError.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slick_curator.probing.read_errors import file_error, too_large
from slick_curator.probing.read_limits import (
    ReadLimits,
    bad_name,
    bad_value,
    is_text,
    name_problems,
    type_depth,
)
from slick_curator.probing.records import RowError
from slick_curator.probing.row_parser import type_name

__all__ = ["Parsed", "read_csv", "read_json", "read_jsonl", "read_parquet"]

_CSV_CHUNK = 8192  # rows kept as Python strings before they become Arrow arrays
_PARQUET_BATCH = 1024  # small batches: a dictionary-encoded column can expand a lot
# The csv module's default cap (128 KiB a field) would make one long cell fail the file;
# the byte limit bounds fields instead.
csv.field_size_limit(2**31 - 1)


@dataclass
class Parsed:
    """Every input row as a table; `records` the decoded objects of JSON formats (None for an
    undecodable row), None for table formats; `errors` the rows that could not be decoded."""

    table: pa.Table
    records: list[dict | None] | None
    errors: list[RowError]


def _check_names(names: list[str], limits: ReadLimits, name: str | None) -> None:
    problem = name_problems(names, limits)
    if problem is not None:
        raise file_error(name, problem[1], field=problem[0])


def _record_problem(record: dict, max_depth: int) -> tuple[str, str] | None:
    for key, value in record.items():
        reason = bad_name(key)
        if reason:
            return "<line>", reason
        reason = bad_value(value, max_depth)
        if reason:
            return key, reason
    return None


def _decode_line(line: bytes, max_depth: int) -> tuple[dict | None, tuple[str, str] | None]:
    try:
        value = json.loads(line.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return None, ("<line>", "not valid UTF-8")
    except RecursionError:
        return None, ("<line>", "invalid JSON: nested too deeply to parse")
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        return None, ("<line>", f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        return None, ("<line>", f"expected a JSON object, got {type_name(value)}")
    problem = _record_problem(value, max_depth)
    return (None, problem) if problem else (value, None)


def read_jsonl(data: bytes, limit: int | None, limits: ReadLimits, name: str | None) -> Parsed:
    records: list[dict | None] = []
    errors: list[RowError] = []
    # bytes.splitlines, unlike str.splitlines, does not split on U+2028 inside JSON strings.
    for line in data.splitlines():
        if not line.strip():
            continue
        if limit is not None and len(records) == limit:
            break
        record, problem = _decode_line(line, limits.max_depth)
        if problem is not None:
            errors.append(RowError(len(records), *problem))
        records.append(record)
    return Parsed(_table_from_records(records, limits, name), records, errors)


def read_json(data: bytes, limit: int | None, limits: ReadLimits, name: str | None) -> Parsed:
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise file_error(name, "not valid UTF-8") from exc
    except RecursionError as exc:
        raise file_error(name, "invalid JSON: nested too deeply to parse") from exc
    except ValueError as exc:
        hint = " (one object per line is JSONL)" if getattr(exc, "msg", "") == "Extra data" else ""
        raise file_error(name, f"invalid JSON: {exc}{hint}") from exc
    if not isinstance(value, list):
        raise file_error(name, f"expected a JSON list of objects, got {type_name(value)}")
    records: list[dict | None] = []
    errors: list[RowError] = []
    for row, item in enumerate(value[:limit]):
        if not isinstance(item, dict):
            errors.append(RowError(row, "<row>", f"expected a JSON object, got {type_name(item)}"))
            item = None
        else:
            problem = _record_problem(item, limits.max_depth)
            if problem is not None:
                errors.append(RowError(row, *problem))
                item = None
        records.append(item)
    return Parsed(_table_from_records(records, limits, name), records, errors)


def _table_from_records(
    records: list[dict | None], limits: ReadLimits, name: str | None
) -> pa.Table:
    names = list(dict.fromkeys(key for r in records if r for key in r))
    if limits.max_columns is not None and len(names) > limits.max_columns:
        raise file_error(
            name,
            f"the rows have {len(names)} distinct columns, more than the "
            f"limit of {limits.max_columns}",
            field="<columns>",
        )
    arrays = {}
    for column in names:
        values = [r.get(column) if r else None for r in records]
        try:
            arrays[column] = pa.array(values)
            if not _parquet_writable(arrays[column].type):
                raise pa.ArrowInvalid("empty struct")
        except (pa.ArrowException, OverflowError):
            # A column with mixed types (ids sometimes int, sometimes str) has no Arrow type,
            # and one of empty objects cannot be written back to Parquet; JSON text keeps every
            # value faithfully instead of rejecting the whole file.
            arrays[column] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
                pa.string(),
            )
    return pa.table(arrays)


def _parquet_writable(dtype: pa.DataType) -> bool:
    if pa.types.is_struct(dtype):
        return dtype.num_fields > 0 and all(_parquet_writable(f.type) for f in dtype)
    return _parquet_writable(dtype.value_type) if pa.types.is_list(dtype) else True


def _csv_row_problem(fields: list[str], header: list[str]) -> tuple[str, str] | None:
    if len(fields) != len(header):
        return "<line>", f"{len(fields)} field(s) where the header has {len(header)}"
    for column, cell in zip(header, fields, strict=True):
        if not is_text(cell):
            return column, "not valid UTF-8"
    return None


def read_csv(data: bytes, limit: int | None, limits: ReadLimits, name: str | None) -> Parsed:
    """Every cell as text (ids like "007" and answers like "1990" survive as written)."""
    # Bad bytes become lone surrogates, so one bad cell is found and reported by its row.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((fields for fields in reader if fields), None)
    except csv.Error as exc:
        raise file_error(name, f"unreadable CSV: {exc}") from exc
    if header is None:
        raise file_error(name, "file is empty")
    if not all(is_text(h) for h in header):
        raise file_error(name, "unreadable CSV: the header is not valid UTF-8")
    _check_names(header, limits, name)
    errors: list[RowError] = []
    chunks: list[list[pa.Array]] = []
    pending: list[list[str | None]] = [[] for _ in header]
    rows = 0

    def add(fields: list[str] | None) -> None:
        nonlocal rows
        for column, cell in zip(pending, fields or [None] * len(header), strict=True):
            column.append(cell)
        rows += 1
        if len(pending[0]) >= _CSV_CHUNK:
            flush()

    def flush() -> None:
        chunks.append([pa.array(column, pa.string()) for column in pending])
        for column in pending:
            column.clear()

    try:
        for fields in reader:
            if not fields:
                continue  # a blank line is no row
            if limit is not None and rows == limit:
                break
            problem = _csv_row_problem(fields, header)
            if problem is not None:
                errors.append(RowError(rows, *problem))
            add(None if problem else fields)
    except csv.Error as exc:  # the reader cannot go on: this row is bad, and the file ends
        errors.append(RowError(rows, "<line>", f"unreadable CSV: {exc}"))
        add(None)
    flush()
    columns = [
        pa.chunked_array([chunk[i] for chunk in chunks], pa.string()) for i in range(len(header))
    ]
    return Parsed(pa.Table.from_arrays(columns, names=header), None, errors)


def read_parquet(data: bytes, limit: int | None, limits: ReadLimits, name: str | None) -> Parsed:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise file_error(name, f"unreadable Parquet: {exc}") from exc
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
    return Parsed(_parquet_rows(parquet, schema, limit, limits, name), None, [])


def _parquet_rows(
    parquet: pq.ParquetFile,
    schema: pa.Schema,
    limit: int | None,
    limits: ReadLimits,
    name: str | None,
) -> pa.Table:
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    try:
        for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH):
            if limit is not None and rows + batch.num_rows >= limit:
                batches.append(batch.slice(0, limit - rows))
                break
            rows += batch.num_rows
            size += _dense_size(batch)
            if limits.max_bytes is not None and size > limits.max_bytes:
                raise too_large(
                    name,
                    "bytes",
                    limits.max_bytes,
                    f"the Parquet data is more than {limits.max_bytes} bytes decoded, the limit",
                )
            batches.append(batch)
    except (pa.ArrowException, OSError) as exc:
        raise file_error(name, f"unreadable Parquet: {exc}") from exc
    if not batches:
        return schema.empty_table()
    return pa.Table.from_batches(batches)


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
