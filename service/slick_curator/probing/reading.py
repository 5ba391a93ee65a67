"""Read a user's dataset file into probe-able `Example`s, keeping every input row accounted for.

Formats: JSONL, JSON (a top-level list of objects), CSV and Parquet, each optionally gzipped.
Rows are either QA rows (a question plus one answer and/or a list of accepted aliases) or chat
rows (a `messages` list: the last user turn is the question, the final assistant turn the
answer). A bad row never disappears: it stays in `Dataset.table` and gets one `RowError`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from slick_curator.probing.records import Example, RowError

__all__ = ["FORMATS", "ColumnMap", "Dataset", "DatasetError", "detect_format", "read_dataset"]

FORMATS = ("jsonl", "json", "csv", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
             ".parquet": "parquet", ".pq": "parquet"}
_GZIP_MAGIC = b"\x1f\x8b"
_ENTITY_QUESTIONS_FILE = re.compile(r"^(P\d+)\.")
_SHOWN_ERRORS = 5


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold what.

    `answer` holds one gold string, `answers` a list of aliases (all accepted as correct); a row
    may use either or both. `messages` is only read when the question column is absent. `group`
    names a grouping column; None means: the "relation" column if present, else the
    EntityQuestions relation from a file name like ``P36.test.json``, else one group "all".
    """

    question: str = "question"
    answer: str = "answer"
    answers: str = "answers"
    messages: str = "messages"
    id: str = "id"
    group: str | None = None


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


class DatasetError(ValueError):
    """The file is unreadable as a whole, or (with ``on_error="fail"``) has bad rows.

    `errors` lists every bad row; whole-file problems carry one error with row -1.
    """

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


def _rows_error(errors: list[RowError], name: str | None) -> DatasetError:
    shown = "; ".join(str(e) for e in errors[:_SHOWN_ERRORS])
    more = len(errors) - _SHOWN_ERRORS
    tail = f"; and {more} more" if more > 0 else ""
    return DatasetError(f"{len(errors)} bad row(s) in {name or 'dataset'}: {shown}{tail}", errors)


def _file_error(name: str | None, reason: str, field: str = "<file>") -> DatasetError:
    return DatasetError(f"{name}: {reason}" if name else reason, [RowError(-1, field, reason)])


def detect_format(name: str) -> str:
    """The format ("jsonl", "json", "csv" or "parquet") implied by a file name's suffix.

    A trailing ``.gz`` is ignored. Raises DatasetError for an unknown suffix.
    """
    base = PurePath(name).name.lower().removesuffix(".gz")
    fmt = _SUFFIXES.get(os.path.splitext(base)[1])
    if fmt is None:
        raise _file_error(None, f"cannot tell the format of {name!r} from its name: expected "
                          ".jsonl, .ndjson, .json, .csv, .parquet or .pq (optionally + .gz), "
                          "or pass format=")
    return fmt


def read_dataset(
    source: str | os.PathLike | BinaryIO,
    *,
    format: str | None = None,
    columns: ColumnMap = ColumnMap(),
    on_error: Literal["fail", "skip"] = "fail",
    limit: int | None = None,
    name: str | None = None,
    max_text_chars: int | None = None,
) -> Dataset:
    """Read a dataset from a path or a binary stream (gzip is detected by its magic bytes).

    `format` overrides detection from the file name; `name` is the file name when `source` is
    a stream. Only the first `limit` input rows (bad ones included) are read. Questions and
    answers longer than `max_text_chars` are row errors. With ``on_error="fail"`` any bad row
    raises DatasetError listing all of them; with ``"skip"`` they are returned in `errors`.
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
    for arg, value in (("limit", limit), ("max_text_chars", max_text_chars)):
        if value is not None and value < 1:
            raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
    data, name = _read_bytes(source, name)
    if format is None and name is None:
        raise _file_error(None, "cannot tell the format of a stream: pass format= or name=")
    fmt = format or detect_format(name)
    if fmt not in FORMATS:
        raise _file_error(name, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not data.strip():
        raise _file_error(name, "file is empty")

    if fmt in ("jsonl", "json"):
        records, errors = _jsonl_records(data, limit) if fmt == "jsonl" else _json_records(
            data, limit, name)
        table = _table_from_records(records)
    else:
        table = _csv_table(data, name) if fmt == "csv" else _parquet_table(data, name)
        if limit is not None:
            table = table.slice(0, limit)
        records, errors = None, []
    n_rows = table.num_rows if records is None else len(records)
    if n_rows == 0:
        raise _file_error(name, "file has no rows")
    if not table.column_names and errors:
        raise _rows_error(errors, name)  # not one row could be decoded

    kind, columns = _resolve_columns(table.column_names, columns, name)
    if records is None:
        records = _records_from_table(table, columns, kind, name)
    parser = _RowParser(columns, kind, table.column_names, _default_group(name),
                        from_csv=fmt == "csv", max_chars=max_text_chars)
    examples = []
    for row, record in enumerate(records):
        if record is None:
            continue  # undecodable; its error is already listed
        try:
            examples.append(parser.parse(row, record))
        except _BadRow as bad:
            errors.append(RowError(row, bad.field, bad.reason))
    errors.sort(key=lambda e: e.row)
    if errors and on_error == "fail":
        raise _rows_error(errors, name)
    return Dataset(table, examples, errors, fmt, kind, columns)


def _read_bytes(source: str | os.PathLike | BinaryIO, name: str | None) -> tuple[bytes, str | None]:
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as f:
            data = f.read()
        name = name or path
    else:
        data = source.read()
        if isinstance(data, str):
            raise TypeError("source stream must be binary (open the file with 'rb')")
        stream_name = getattr(source, "name", None)
        name = name or (stream_name if isinstance(stream_name, str) else None)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _file_error(name, f"corrupt gzip data: {exc}") from exc
    return data, name


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _jsonl_records(data: bytes, limit: int | None) -> tuple[list[dict | None], list[RowError]]:
    records: list[dict | None] = []
    errors: list[RowError] = []
    # bytes.splitlines, unlike str.splitlines, does not split on U+2028 inside JSON strings.
    for line in data.splitlines():
        if not line.strip():
            continue
        if limit is not None and len(records) == limit:
            break
        row, record = len(records), None
        try:
            value = json.loads(line.decode("utf-8-sig"))
        except UnicodeDecodeError:
            errors.append(RowError(row, "<line>", "not valid UTF-8"))
        except json.JSONDecodeError as exc:
            errors.append(RowError(row, "<line>", f"invalid JSON: {exc}"))
        else:
            if isinstance(value, dict):
                record = value
            else:
                errors.append(RowError(row, "<line>",
                                       f"expected a JSON object, got {_type_name(value)}"))
        records.append(record)
    return records, errors


def _json_records(data: bytes, limit: int | None,
                  name: str | None) -> tuple[list[dict | None], list[RowError]]:
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _file_error(name, "not valid UTF-8") from exc
    except json.JSONDecodeError as exc:
        hint = " (one object per line is JSONL)" if exc.msg == "Extra data" else ""
        raise _file_error(name, f"invalid JSON: {exc}{hint}") from exc
    if not isinstance(value, list):
        raise _file_error(name, f"expected a JSON list of objects, got {_type_name(value)}")
    records: list[dict | None] = []
    errors: list[RowError] = []
    for row, item in enumerate(value[:limit]):
        records.append(item if isinstance(item, dict) else None)
        if records[-1] is None:
            errors.append(RowError(row, "<row>", f"expected a JSON object, got {_type_name(item)}"))
    return records, errors


def _table_from_records(records: list[dict | None]) -> pa.Table:
    names = list(dict.fromkeys(key for r in records if r for key in r))
    arrays = {}
    for name in names:
        values = [r.get(name) if r else None for r in records]
        try:
            arrays[name] = pa.array(values)
            if not _parquet_writable(arrays[name].type):
                raise pa.ArrowInvalid("empty struct")
        except (pa.ArrowException, OverflowError):
            # A column with mixed types (ids sometimes int, sometimes str) has no Arrow type,
            # and one of empty objects cannot be written back to Parquet; JSON text keeps every
            # value faithfully instead of rejecting the whole file.
            arrays[name] = pa.array(
                [None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
                pa.string())
    return pa.table(arrays)


def _parquet_writable(dtype: pa.DataType) -> bool:
    if pa.types.is_struct(dtype):
        return dtype.num_fields > 0 and all(_parquet_writable(f.type) for f in dtype)
    return _parquet_writable(dtype.value_type) if pa.types.is_list(dtype) else True


def _csv_table(data: bytes, name: str | None) -> pa.Table:
    try:
        header = pa_csv.open_csv(io.BytesIO(data)).schema.names
        # All columns as text, so ids like "007" and answers like "1990" survive as written.
        options = pa_csv.ConvertOptions(column_types={col: pa.string() for col in header})
        return pa_csv.read_csv(io.BytesIO(data), convert_options=options)
    except (pa.ArrowException, UnicodeDecodeError) as exc:  # a non-UTF-8 header raises the latter
        raise _file_error(name, f"unreadable CSV: {exc}") from exc


def _parquet_table(data: bytes, name: str | None) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise _file_error(name, f"unreadable Parquet: {exc}") from exc


def _resolve_columns(names: list[str], columns: ColumnMap,
                     name: str | None) -> tuple[str, ColumnMap]:
    found = f"columns found: {', '.join(names)}"
    if columns.question in names:
        kind = "qa"
        if columns.answer not in names and columns.answers not in names:
            raise _file_error(name, f"no {columns.answer!r} or {columns.answers!r} column; {found}",
                              field=columns.answer)
    elif columns.messages in names:
        kind = "chat"
    else:
        raise _file_error(name, f"no {columns.question!r} column (or {columns.messages!r} for "
                          f"chat rows); {found}", field=columns.question)
    if columns.group is not None and columns.group not in names:
        raise _file_error(name, f"group column {columns.group!r} not found; {found}",
                          field=columns.group)
    if columns.group is None and "relation" in names:
        columns = replace(columns, group="relation")
    return kind, columns


def _default_group(name: str | None) -> str:
    match = _ENTITY_QUESTIONS_FILE.match(PurePath(name).name) if name else None
    return match.group(1) if match else "all"


def _records_from_table(table: pa.Table, columns: ColumnMap, kind: str,
                        name: str | None) -> list[dict]:
    wanted = [columns.question, columns.answer, columns.answers] if kind == "qa" else [
        columns.messages]
    wanted += [columns.id] + ([columns.group] if columns.group else [])
    values = {}
    for col in dict.fromkeys(wanted):
        count = len(table.schema.get_all_field_indices(col))
        if count > 1:
            raise _file_error(name, f"column {col!r} appears {count} times", field=col)
        if count:
            values[col] = table.column(col).to_pylist()
    return [{col: vals[i] for col, vals in values.items()} for i in range(table.num_rows)]


class _BadRow(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _csv_answers(cell: str) -> Any:
    """A CSV cell holding a JSON array is a list of aliases; any other cell is one answer."""
    if cell.lstrip().startswith("["):
        try:
            value = json.loads(cell)
        except ValueError:
            return [cell]
        if isinstance(value, list):
            return value
    return [cell]


@dataclass(frozen=True)
class _RowParser:
    columns: ColumnMap
    kind: str
    names: list[str]
    default_group: str
    from_csv: bool
    max_chars: int | None

    def parse(self, row: int, record: dict) -> Example:
        c = self.columns
        if self.kind == "qa":
            question = self._text(record.get(c.question), c.question)
            answers = self._answers(record.get(c.answer), record.get(c.answers))
        else:
            question, answer = self._chat(record.get(c.messages))
            answers = (answer,)
        group = self._group(record.get(c.group)) if c.group else self.default_group
        raw_id = record.get(c.id)
        return Example(row, question, answers, group, None if raw_id is None else str(raw_id))

    def _text(self, value: Any, field: str, where: str = "") -> str:
        if value is None:
            raise _BadRow(field, f"{where}missing")
        if not isinstance(value, str):
            raise _BadRow(field, f"{where}wrong type: expected string, got {_type_name(value)}")
        text = value.strip()
        if not text:
            raise _BadRow(field, f"{where}empty")
        if self.max_chars is not None and len(text) > self.max_chars:
            raise _BadRow(field, f"{where}too long: {len(text)} characters, limit {self.max_chars}")
        return text

    def _answers(self, single: Any, many: Any) -> tuple[str, ...]:
        c = self.columns
        if self.from_csv:  # CSV has no nulls: an empty cell means "not given"
            single = single or None
            many = _csv_answers(many) if many else None
        if single is None and many is None:
            field = c.answer if c.answer in self.names else c.answers
            raise _BadRow(field, f"missing: the row has neither {c.answer!r} nor {c.answers!r}")
        aliases = [] if single is None else [self._text(single, c.answer)]
        if many is not None:
            if not isinstance(many, list):
                raise _BadRow(c.answers,
                              f"wrong type: expected list of strings, got {_type_name(many)}")
            if not many:
                raise _BadRow(c.answers, "empty list")
            aliases += [self._text(v, c.answers, f"item {i}: ") for i, v in enumerate(many)]
        return tuple(dict.fromkeys(aliases))

    def _chat(self, messages: Any) -> tuple[str, str]:
        field = self.columns.messages
        if messages is None:
            raise _BadRow(field, "missing")
        if self.from_csv and isinstance(messages, str):
            try:
                messages = json.loads(messages)
            except ValueError as exc:
                raise _BadRow(field, f"invalid JSON: {exc}") from exc
        if not isinstance(messages, list):
            raise _BadRow(field, f"wrong type: expected a list of messages, got "
                          f"{_type_name(messages)}")
        for i, m in enumerate(messages):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                    and isinstance(m.get("content"), str)):
                raise _BadRow(field, f"message {i}: expected an object with string 'role' and "
                              "'content'")
        if not messages or messages[-1]["role"] != "assistant":
            raise _BadRow(field, "no final assistant turn")
        users = [m for m in messages[:-1] if m["role"] == "user"]
        if not users:
            raise _BadRow(field, "no user turn before the final assistant turn")
        return (self._text(users[-1]["content"], field, "user turn: "),
                self._text(messages[-1]["content"], field, "assistant turn: "))

    def _group(self, value: Any) -> str:
        text = None if value is None else str(value).strip()
        if not text:
            raise _BadRow(self.columns.group, "missing" if value is None else "empty")
        return text
