"""Read a user's dataset file into probe-able `Example`s, keeping every input row accounted for.

Formats: JSONL, JSON (a top-level list of objects), CSV and Parquet, each optionally gzipped
(a gzip inside a gzip too, bounded: probing.decoding). Rows are either QA rows (a question
plus one answer and/or a list of accepted aliases) or chat rows (a `messages` list: the last
user turn is the question, the final assistant turn the answer). A bad row never disappears:
it stays in `Dataset.table` and gets one `RowError`. `ReadLimits` bound what a file may hold.

`scan_dataset` reads a file chunk by chunk (memory bounded by a chunk, except for a JSON
list: read_formats), for callers that store what they read as they go (uploads);
`read_dataset` collects the chunks into one `Dataset`.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import BinaryIO, Literal

import pyarrow as pa
from slick_client.schemas import DATASET_SUFFIXES

from slick_curator.probing import read_formats, read_json
from slick_curator.probing.byte_source import READ_CHUNK, ByteSource, decoded
from slick_curator.probing.columns import ColumnMap, row_shape
from slick_curator.probing.hf_folders import HFFolderError, folder_format, read_folder_table
from slick_curator.probing.read_errors import (
    DatasetError,
    DatasetTooLarge,
    file_error,
    rows_error,
    too_large,
)
from slick_curator.probing.read_limits import ReadLimits
from slick_curator.probing.records import Example, RowError
from slick_curator.probing.row_parser import BadRow, RowParser

__all__ = [
    "FORMATS",
    "Chunk",
    "ColumnMap",
    "Dataset",
    "DatasetError",
    "DatasetScan",
    "DatasetTooLarge",
    "ReadLimits",
    "detect_format",
    "read_dataset",
    "default_group",
    "scan_dataset",
]

# Folders: hf (save_to_disk) and hub (a Hub dataset repository); probing.hf_folders.
FORMATS = ("jsonl", "json", "csv", "parquet", "hf", "hub")
_ENTITY_QUESTIONS_FILE = re.compile(r"^(P\d+)\.")
_LISTED_ERRORS = 1000  # bad rows kept for a file none of whose rows decode
_READERS = {
    "jsonl": read_json.read_jsonl,
    "json": read_json.read_json,
    "csv": read_formats.read_csv,
    "parquet": read_formats.read_parquet,
}


@dataclass
class Dataset:
    """A read dataset.

    `table` has every input row (valid or not) in input order with every input column as-is;
    rows that could not be decoded at all are all-null, so row numbers line up. `examples` holds
    the valid rows (`Example.row` is the 0-based input row), `errors` one entry per bad row.
    `kind` is "qa" or "chat"; `columns` is the mapping used, with `group` set to the grouping
    column actually read (None when groups came from the file name or the default "all").
    """

    table: pa.Table
    examples: list[Example]
    errors: list[RowError]
    format: str
    kind: str
    columns: ColumnMap

    @property
    def shape(self) -> str:
        """"qa", "alpaca", "chat" or "sharegpt" (detected from the columns; probing.columns)."""
        return row_shape(self.kind, self.columns)


def detect_format(name: str) -> str:
    """The format ("jsonl", "json", "csv" or "parquet") implied by a file name's suffix.

    A trailing ``.gz`` is ignored. Raises DatasetError for an unknown suffix.
    """
    base = PurePath(name).name.lower().removesuffix(".gz")
    fmt = DATASET_SUFFIXES.get(os.path.splitext(base)[1])
    if fmt is None:
        raise file_error(
            None,
            f"cannot tell the format of {name!r} from its name: expected "
            ".jsonl, .ndjson, .json, .csv, .parquet or .pq (optionally + .gz), "
            "or pass format=",
        )
    return fmt


@dataclass
class Chunk:
    """Consecutive input rows: `table` (the file's schema), their valid rows and errors."""

    table: pa.Table
    examples: list[Example]
    errors: list[RowError]


@dataclass
class DatasetScan:
    """A dataset being read: what it is (format, kind, columns) is known before its rows,
    which `chunks()` yields once, in input order. Limits on rows are checked as they come."""

    format: str
    kind: str
    columns: ColumnMap
    name: str | None
    _first: read_formats.RawChunk
    _rest: Iterator[read_formats.RawChunk]
    _parser: RowParser
    _columns_read: list[str]
    _max_rows: int | None

    @property
    def shape(self) -> str:
        return row_shape(self.kind, self.columns)

    def chunks(self) -> Iterator[Chunk]:
        rows = 0
        for part in itertools.chain([self._first], self._rest):
            rows += part.table.num_rows
            if self._max_rows is not None and rows > self._max_rows:
                raise _too_many_rows(self.name, self._max_rows)
            yield self._parse(part)

    def _parse(self, raw: read_formats.RawChunk) -> Chunk:
        records = raw.records
        if records is None:
            records = _records_from_table(raw.table, self._columns_read)
            for e in raw.errors:  # undecodable rows are all-null; their error is listed
                records[e.row - raw.first_row] = None
        examples, errors = [], list(raw.errors)
        for offset, record in enumerate(records):
            if record is None:
                continue
            row = raw.first_row + offset
            try:
                examples.append(self._parser.parse(row, record))
            except BadRow as bad:
                errors.append(RowError(row, bad.field, bad.reason))
        errors.sort(key=lambda e: e.row)
        return Chunk(raw.table, examples, errors)


def scan_dataset(
    source: str | os.PathLike | BinaryIO,
    *,
    format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    limit: int | None = None,
    name: str | None = None,
    max_text_chars: int | None = None,
    limits: ReadLimits = ReadLimits(),
) -> DatasetScan:
    """Start reading a dataset (arguments as `read_dataset`); whole-file problems (format,
    columns, no rows, none decodable) raise here, bad rows come with their chunk."""
    for arg, value in (("limit", limit), ("max_text_chars", max_text_chars)):
        if value is not None and value < 1:
            raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
    wanted = limit
    if limits.max_rows is not None and (wanted is None or wanted > limits.max_rows):
        wanted = limits.max_rows + 1  # one more than allowed tells "too many" from "just right"
    if isinstance(source, (str, os.PathLike)) and os.path.isdir(source):
        name = name or os.fspath(source)
        fmt, table = _folder_table(source, name, limits.max_bytes)
        scan = read_formats.read_hf(table, wanted, limits, name)
    else:
        data, name = _source(source, name, limits.max_bytes)
        if format is None and name is None:
            raise file_error(None, "cannot tell the format of a stream: pass format= or name=")
        fmt = format or detect_format(name)
        if fmt not in FORMATS:
            raise file_error(name, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        if fmt in ("hf", "hub"):
            raise file_error(name, f"format {fmt} is a folder, and this is a file")
        if data.is_blank():
            raise file_error(name, "file is empty")
        scan = _READERS[fmt](data, wanted, limits, name)
    if limits.max_rows is not None and scan.rows is not None and scan.rows > limits.max_rows:
        # known from a first pass: refused before the chunks are built
        raise _too_many_rows(name, limits.max_rows)
    rest = scan.chunks()
    first = next(rest, None)
    if first is None:
        raise file_error(name, "file has no rows")
    if not scan.names and first.errors:  # not one row could be decoded
        errors = list(first.errors)
        total = len(errors) + sum(len(c.errors) for c in rest)
        raise rows_error(errors[:_LISTED_ERRORS], name, total=total)
    kind, columns = _resolve_columns(scan.names, columns, name)
    parser = RowParser(columns, kind, scan.names, default_group(name), from_csv=fmt == "csv",
                       max_chars=max_text_chars)
    return DatasetScan(fmt, kind, columns, name, first, rest, parser,
                       _columns_read(columns, kind, scan.names), limits.max_rows)


def read_dataset(
    source: str | os.PathLike | BinaryIO,
    *,
    format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    on_error: Literal["fail", "skip"] = "fail",
    limit: int | None = None,
    name: str | None = None,
    max_text_chars: int | None = None,
    limits: ReadLimits = ReadLimits(),
) -> Dataset:
    """Read a dataset from a path or a binary stream (gzip is detected by its magic bytes).

    `format` overrides detection from the file name; `name` is the file name when `source` is
    a stream (and the name errors show). Only the first `limit` input rows (bad ones included)
    are read. Questions and answers longer than `max_text_chars` are row errors. With
    ``on_error="fail"`` any bad row raises DatasetError listing all of them; with ``"skip"``
    they are returned in `errors`. A file past `limits` raises DatasetTooLarge (bytes, rows)
    or DatasetError (columns, nesting).
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    scan = scan_dataset(source, format=format, columns=columns, limit=limit, name=name,
                        max_text_chars=max_text_chars, limits=limits)
    tables, examples, errors = [], [], []
    for chunk in scan.chunks():
        tables.append(chunk.table)
        examples += chunk.examples
        errors += chunk.errors
    if errors and on_error == "fail":
        raise rows_error(errors, scan.name)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Dataset(table, examples, errors, scan.format, scan.kind, scan.columns)


def _too_many_rows(name: str | None, max_rows: int) -> DatasetTooLarge:
    return too_large(name, "rows", max_rows, f"more than {max_rows} rows, the limit")


def _folder_table(source: str | os.PathLike, shown: str, max_bytes: int | None
                  ) -> tuple[str, pa.Table]:
    fmt = folder_format(source)
    if fmt is None:
        raise file_error(shown, "is a folder, and neither a Hugging Face save_to_disk dataset "
                                "(no state.json) nor a Hub dataset (no data/train-*.parquet)")
    try:
        return fmt, read_folder_table(source, max_bytes)
    except HFFolderError as exc:
        raise file_error(shown, str(exc)) from exc


def _source(source: str | os.PathLike | BinaryIO, name: str | None, max_bytes: int | None
            ) -> tuple[ByteSource, str | None]:
    """The file's bytes, reread from disk on every pass; a stream's, decoded into memory."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return ByteSource(path=path, name=name or path, max_bytes=max_bytes), name or path
    stream_name = getattr(source, "name", None)
    name = name or (stream_name if isinstance(stream_name, str) else None)
    first = source.read(0)
    if isinstance(first, str):
        raise TypeError("source stream must be binary (open the file with 'rb')")
    data = b"".join(decoded(iter(lambda: source.read(READ_CHUNK), b""), name, max_bytes))
    return ByteSource(data=data, name=name, max_bytes=max_bytes), name


def _resolve_columns(
    names: list[str], columns: ColumnMap, name: str | None
) -> tuple[str, ColumnMap]:
    found = f"columns found: {', '.join(names)}"
    columns = _detect_shape(names, columns)
    if columns.question in names:
        kind = "qa"
        if columns.answer not in names and columns.answers not in names:
            raise file_error(
                name,
                f"no {columns.answer!r} or {columns.answers!r} column; {found}",
                field=columns.answer,
            )
    elif columns.messages in names:
        kind = "chat"
    else:
        raise file_error(
            name,
            f"no {columns.question!r} column (or {columns.messages!r} for chat rows); {found}",
            field=columns.question,
        )
    if columns.group is not None and columns.group not in names:
        raise file_error(
            name, f"group column {columns.group!r} not found; {found}", field=columns.group
        )
    if columns.group is None and "relation" in names:
        columns = replace(columns, group="relation")
    return kind, columns


def _detect_shape(names: list[str], columns: ColumnMap) -> ColumnMap:
    """ShareGPT and Alpaca rows, recognised by their columns when the map's question and
    messages columns are both absent (a map naming its columns is never second-guessed)."""
    if columns.question in names or columns.messages in names:
        return columns
    if "conversations" in names:
        return replace(columns, messages="conversations", turns="sharegpt")
    if "instruction" in names and "output" in names:
        return replace(columns, question="instruction", answer="output",
                       input="input" if "input" in names else None)
    return columns


def default_group(name: str | None) -> str:
    """The group of rows without a group column: the EntityQuestions relation a file name
    like ``P36.test.json`` names, else "all"."""
    match = _ENTITY_QUESTIONS_FILE.match(PurePath(name).name) if name else None
    return match.group(1) if match else "all"


def _columns_read(columns: ColumnMap, kind: str, names: list[str]) -> list[str]:
    """The columns the row parser reads (names are unique: the readers check)."""
    wanted = (
        [columns.question, columns.answer, columns.answers] if kind == "qa" else [columns.messages]
    )
    wanted += [columns.id] + ([columns.group] if columns.group else [])
    wanted += [columns.input] if columns.input else []
    return [c for c in dict.fromkeys(wanted) if c in names]


def _records_from_table(table: pa.Table, wanted: list[str]) -> list[dict | None]:
    values = {col: table.column(col).to_pylist() for col in wanted}
    return [{col: vals[i] for col, vals in values.items()} for i in range(table.num_rows)]
