"""JSONL and JSON lists, chunk by chunk, into tables of every input row (read_formats has the
chunk types and the table formats).

A line that cannot be decoded (invalid JSON, bad UTF-8, a value nested too deep) stays in its
chunk as an all-null row and gets one `RowError`; so does a list item that is no object. Both
are read in two passes, memory bounded by a chunk: the first finds the columns and the Arrow
type of each over the whole file (ints and floats: floats; objects: every field seen), the
second builds chunks of that schema. A JSON list is split into its items as it is read
(json_list); a problem with the list itself (invalid JSON, not a list) refuses the file.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import pyarrow as pa

from slick_curator.probing import read_formats
from slick_curator.probing.byte_source import ByteSource
from slick_curator.probing.json_list import json_list_items
from slick_curator.probing.read_errors import file_error
from slick_curator.probing.read_formats import RawChunk, Scan
from slick_curator.probing.read_limits import ReadLimits, bad_name, bad_value
from slick_curator.probing.records import RowError
from slick_curator.probing.row_parser import type_name

__all__ = ["decode_line", "json_list_records", "jsonl_lines", "jsonl_records", "read_json",
           "read_jsonl"]

_BOM = b"\xef\xbb\xbf"
_TEXT = None  # a column kept as JSON text (mixed types, or no Parquet form)


def _record_problem(record: dict, max_depth: int) -> tuple[str, str] | None:
    for key, value in record.items():
        reason = bad_name(key)
        if reason:
            return "<line>", reason
        reason = bad_value(value, max_depth)
        if reason:
            return key, reason
    return None


def decode_line(line: bytes, max_depth: int) -> tuple[dict | None, tuple[str, str] | None]:
    """A line's object, or None and the problem: (the field, or "<line>"; why)."""
    try:
        # The BOM dropped by hand: the "utf-8-sig" codec is pure Python and slow per line.
        value = json.loads((line[3:] if line.startswith(_BOM) else line).decode("utf-8"))
    except UnicodeDecodeError:
        return None, ("<line>", "not valid UTF-8")
    except RecursionError:
        return None, ("<line>", "invalid JSON: nested too deeply to parse")
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        return None, ("<line>", f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        return None, ("<line>", f"expected a JSON object, got {type_name(value)}")
    if _plainly_fine(line, value, max_depth):
        return value, None
    problem = _record_problem(value, max_depth)
    return (None, problem) if problem else (value, None)


def _plainly_fine(line: bytes, record: dict, max_depth: int) -> bool:
    """True when the raw line shows `record` has no problem, without walking its values:
    strict UTF-8 decoding leaves a lone surrogate only through a \\u escape, and a value
    cannot nest deeper than the line has brackets. Most lines pass (the walk is the cost of
    reading a large JSONL)."""
    return (b"\\u" not in line and "" not in record
            and line.count(b"[") + line.count(b"{") <= max_depth + 1)


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of the decoded bytes, as bytes.splitlines gives them (which, unlike
    str.splitlines, does not split on U+2028 inside JSON strings), chunk by chunk."""
    pending: list[bytes] = []
    for chunk in chunks:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            pending.append(chunk)
            continue
        pending.append(parts[0])
        yield from b"".join(pending).splitlines()
        for part in parts[1:-1]:
            yield from part.splitlines()
        pending = [parts[-1]]
    yield from b"".join(pending).splitlines()


def jsonl_lines(source: ByteSource) -> Iterator[bytes]:
    """The file's rows as raw lines: every line that is not blank, in order."""
    return (line for line in _lines(source.chunks()) if line.strip())


def jsonl_records(source: ByteSource, limit: int | None, max_depth: int
                   ) -> Iterator[tuple[int, list[dict | None], list[RowError]]]:
    """(first row, decoded records, row errors) per read_formats.CHUNK_ROWS non-blank lines."""
    lines = itertools.islice(jsonl_lines(source), limit)
    return _chunked(decode_line(line, max_depth) for line in lines)


def json_list_records(source: ByteSource, limit: int | None, max_depth: int, name: str | None
                      ) -> Iterator[tuple[int, list[dict | None], list[RowError]]]:
    """As `jsonl_records`, for the items of a JSON list."""
    items = itertools.islice(json_list_items(source, name), limit)
    return _chunked(_checked_item(item, max_depth) for item in items)


def _checked_item(item: object, max_depth: int) -> tuple[dict | None, tuple[str, str] | None]:
    if not isinstance(item, dict):
        return None, ("<row>", f"expected a JSON object, got {type_name(item)}")
    problem = _record_problem(item, max_depth)
    return (None, problem) if problem else (item, None)


def _chunked(decoded: Iterator[tuple[dict | None, tuple[str, str] | None]]
             ) -> Iterator[tuple[int, list[dict | None], list[RowError]]]:
    first, records, errors = 0, [], []
    for record, problem in decoded:
        if problem is not None:
            errors.append(RowError(first + len(records), *problem))
        records.append(record)
        if len(records) == read_formats.CHUNK_ROWS:
            yield first, records, errors
            first, records, errors = first + len(records), [], []
    if records:
        yield first, records, errors


def read_jsonl(source: ByteSource, limit: int | None, limits: ReadLimits, name: str | None
               ) -> Scan:
    return _two_passes(lambda: jsonl_records(source, limit, limits.max_depth), limits, name)


def read_json(source: ByteSource, limit: int | None, limits: ReadLimits, name: str | None
              ) -> Scan:
    return _two_passes(lambda: json_list_records(source, limit, limits.max_depth, name),
                       limits, name)


Records = Callable[[], Iterator[tuple[int, list[dict | None], list[RowError]]]]


def _two_passes(records: Records, limits: ReadLimits, name: str | None) -> Scan:
    """Pass 1: every column and its type over the whole file, one chunk in memory at a time;
    pass 2 (the scan's chunks): tables of those columns and types."""
    names: dict[str, None] = {}
    types: dict[str, pa.DataType | None] = {}
    rows = 0
    for first, part, _ in records():
        rows = first + len(part)
        _add_names(names, part, limits, name)
        for column in names:
            types[column] = _unify(types.get(column, pa.null()),
                                   _column_type([r.get(column) if r else None for r in part]))
    types = {c: t if t is _TEXT or _parquet_writable(t) else _TEXT for c, t in types.items()}

    def chunks() -> Iterator[RawChunk]:
        for first, part, errors in records():
            yield RawChunk(_table(part, types, name), part, errors, first)

    return Scan(list(names), chunks, rows)


def _add_names(names: dict[str, None], records: list[dict | None], limits: ReadLimits,
               name: str | None) -> None:
    for record in records:
        if record:
            for key in record:
                if key not in names:
                    names[key] = None
    if limits.max_columns is not None and len(names) > limits.max_columns:
        raise file_error(
            name,
            f"the rows have {len(names)} distinct columns, more than the "
            f"limit of {limits.max_columns}",
            field="<columns>",
        )


def _column_type(values: list) -> pa.DataType | None:
    try:
        return pa.array(values).type
    except (pa.ArrowException, OverflowError):
        return _TEXT


def _unify(a: pa.DataType | None, b: pa.DataType | None) -> pa.DataType | None:
    """The type holding values of both (ints and floats: floats; structs: every field), or
    _TEXT when there is none (ids sometimes int, sometimes str)."""
    if a is _TEXT or b is _TEXT:
        return _TEXT
    if a == b:
        return a
    try:
        return pa.unify_schemas([pa.schema([("v", a)]), pa.schema([("v", b)])],
                                promote_options="permissive").field("v").type
    except pa.ArrowException:  # every Arrow error (ArrowTypeError, ArrowNotImplementedError)
        return _TEXT


def _table(records: list[dict | None], types: dict[str, pa.DataType | None],
           name: str | None) -> pa.Table:
    arrays = {}
    for column, dtype in types.items():
        values = [r.get(column) if r else None for r in records]
        if dtype is _TEXT:
            # A column with mixed types, or of empty objects (no Parquet form): JSON text keeps
            # every value faithfully instead of rejecting the whole file.
            arrays[column] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
                pa.string())
            continue
        try:
            arrays[column] = pa.array(values, dtype)
        except (pa.ArrowException, OverflowError) as exc:
            raise file_error(name, f"column {column!r} holds values of {dtype} that do not "
                                   f"convert ({exc})", field=column) from exc
    return pa.table(arrays) if arrays else pa.table({"": pa.nulls(len(records))}).drop([""])


def _parquet_writable(dtype: pa.DataType) -> bool:
    if pa.types.is_struct(dtype):
        return dtype.num_fields > 0 and all(_parquet_writable(f.type) for f in dtype)
    return _parquet_writable(dtype.value_type) if pa.types.is_list(dtype) else True
