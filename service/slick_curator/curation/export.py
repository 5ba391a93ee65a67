"""Curated exports in the format the user sent: JSONL stays JSONL (chat rows stay chat rows),
a JSON list stays a JSON list, CSV stays CSV, Parquet stays Parquet. Every input column is
kept; the `slick_` columns too unless asked to drop them. A `.gz` suffix gzips the file.

CSV is opened by spreadsheets, which may run a cell that starts with = + - @, a tab or a
carriage return as a formula; so, by OWASP's rule against CSV injection, such text cells and
header names get a leading single quote (numbers are left alone). JSON and Parquet stay exact."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import gzip
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from slick_client.schemas import EXPORT_FORMATS

from slick_curator.curation.hub_folder import write_hub_folder
from slick_curator.probing.hf_folders import write_hf_folder
from slick_curator.probing.reading import detect_format

__all__ = ["FOLDER_FORMATS", "FORMULA_START", "LOCAL_EXPORT_FORMATS", "MEDIA_TYPES", "csv_safe", "export_format", "jsonable",
           "write_export"]

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "json": "application/json",
               "csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
_BATCH = 4096
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Files, plus (where the caller writes to a path: the CLI, the library) folders: a Hugging Face
# save_to_disk folder (hf) or a Hub dataset repository (hub: curation.hub_folder), each with a
# dataset card. The HTTP service answers with one file, so it offers EXPORT_FORMATS.
FOLDER_FORMATS = {".hf": "hf", ".hub": "hub"}  # by the folder's suffix
LOCAL_EXPORT_FORMATS = (*EXPORT_FORMATS, *FOLDER_FORMATS.values())


def export_format(path: str | os.PathLike | None, requested: str | None, original: str, *,
                  formats: tuple[str, ...] = EXPORT_FORMATS) -> str:
    """The format to write: `requested`, else the one `path`'s suffix names (.hf and .hub
    folders too), else `original` (a path without a suffix keeps the input's format); always
    one of `formats`."""
    if requested is not None:
        if requested not in formats:
            raise ValueError(f"unknown format {requested!r}; expected one of "
                             f"{', '.join(formats)}")
        return requested
    if path is not None:
        name = PurePath(os.fspath(path)).name.lower().removesuffix(".gz")
        folder = FOLDER_FORMATS.get(PurePath(name).suffix)
        if folder in formats:
            return folder
        if "." in name and folder is None:
            return detect_format(name)
    return original if original in formats else "parquet"


def write_export(table: pa.Table, target: str | os.PathLike | IO[bytes], fmt: str, *,
                 messages_column: str | None = None, gzipped: bool | None = None,
                 card: str | None = None) -> None:
    """Write `table` as `fmt` to a path or a binary stream (a path ending in .gz is gzipped);
    a folder format gets `card` as its README.md (files ignore it).

    For JSON formats, null fields of chat messages are left out (Arrow gives every message all
    the keys any message had), and values JSON cannot hold become text (dates in ISO 8601,
    bytes in base64).
    """
    if fmt not in LOCAL_EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of "
                         f"{', '.join(LOCAL_EXPORT_FORMATS)}")
    if fmt in FOLDER_FORMATS.values():
        if not isinstance(target, (str, os.PathLike)):
            raise ValueError("a Hugging Face dataset is a folder: give a path, not a stream")
        if fmt == "hub":
            write_hub_folder(table, target, card)
            return
        write_hf_folder(table, target)
        if card is not None:  # the dataset card the Hub shows (README.md with YAML metadata)
            (Path(target) / "README.md").write_text(card, encoding="utf-8")
        return
    if isinstance(target, (str, os.PathLike)):
        if gzipped is None:
            gzipped = os.fspath(target).lower().endswith(".gz")
        with open(target, "wb") as raw:
            _write_maybe_gzipped(table, raw, fmt, messages_column, gzipped)
    else:
        _write_maybe_gzipped(table, target, fmt, messages_column, bool(gzipped))


def _write_maybe_gzipped(table: pa.Table, raw: IO[bytes], fmt: str, messages: str | None,
                         gzipped: bool) -> None:
    if not gzipped:
        _write(table, raw, fmt, messages)
        return
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as stream:
        _write(table, stream, fmt, messages)  # type: ignore[arg-type]


def _write(table: pa.Table, stream: IO[bytes], fmt: str, messages: str | None) -> None:
    if fmt == "parquet":
        pq.write_table(table, stream, compression="zstd")
    elif fmt == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow([csv_safe(name) for name in table.column_names])
        for record in _records(table, messages):
            writer.writerow([_csv_cell(v) for v in record.values()])
        text.flush()
        text.detach()
    elif fmt == "jsonl":
        for record in _records(table, messages):
            stream.write(_dumps(record).encode() + b"\n")
    else:
        stream.write(b"[")
        for i, record in enumerate(_records(table, messages)):
            stream.write((",\n" if i else "\n").encode() + _dumps(record).encode())
        stream.write(b"\n]\n")


def _records(table: pa.Table, messages: str | None) -> Iterator[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=_BATCH):
        for record in batch.to_pylist():
            value = record.get(messages) if messages else None
            if isinstance(value, list):
                record[messages] = [  # type: ignore[index]
                    {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m
                    for m in value]
            yield record


def _dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False)


def jsonable(value: Any) -> Any:
    """`value` with what JSON cannot hold made into text (NaN and infinities into null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def csv_safe(text: str) -> str:
    """`text` as a CSV cell no spreadsheet runs as a formula (OWASP): a leading ' if needed."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return csv_safe(_dumps(value))
    value = jsonable(value)  # numbers stay numbers: -5 is no formula
    return csv_safe(value) if isinstance(value, str) else value


