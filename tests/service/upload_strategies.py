"""Hypothesis strategies for hostile uploads: random column names and nesting, every format,
text encodings, gzip layers (bombs too), transports and sizes. Each draw is one HTTP request."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

KEY_COLUMNS = ["question", "answer", "answers", "messages", "relation", "id"]
ODD_NAMES = ["", " ", "=cmd", "-1", "slick_category", "slick_row", 'a"b', "a,b", "line\nbreak",
             "tab\t", "nul\x00", "é", "名前", "x" * 300, "question", "answer"]
MEDIA = {"jsonl": "application/x-ndjson", "json": "application/json", "csv": "text/csv",
         "parquet": "application/vnd.apache.parquet"}


@dataclass
class Request:
    """One upload: how to send it, and what was drawn (shown when an example fails)."""

    fmt: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # set: a multipart upload
    notes: str = ""


def nested(depth: int, leaf: Any) -> Any:
    for i in range(depth):
        leaf = [leaf] if i % 2 else {"k": leaf}
    return leaf


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["=1+2", "@x", "-y", "\t+z", "[1]",
                                                           '["a", "b"]', ""]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=8)
deep_values = st.builds(nested, st.integers(0, 60), scalars)
chat_values = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", 5]),
     "content": st.one_of(st.text(max_size=10), st.none())}), max_size=4)
names = st.one_of(st.sampled_from(KEY_COLUMNS), st.sampled_from(ODD_NAMES), st.text(max_size=8))


def _mostly(good: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """`good` four times in five: most rows are valid, so probes and results get exercised."""
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda ok: good if ok else odd)


questions = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1,
                    max_size=20).map(lambda q: q.strip() + "?")


def _value_for(column: str) -> st.SearchStrategy:
    if column == "question":
        return _mostly(questions, json_values)
    if column in ("answer", "relation", "id"):
        return _mostly(st.text(min_size=1, max_size=10).map(lambda a: a.strip() or "a"),
                       scalars)
    if column == "answers":
        return _mostly(st.lists(st.sampled_from(["a", "b", "=c", "-d"]), min_size=1,
                                max_size=3), json_values)
    if column == "messages":
        return _mostly(st.builds(lambda q, a: [{"role": "user", "content": q},
                                               {"role": "assistant", "content": a}],
                                 questions, st.sampled_from(["yes", "=no", "@x"])), chat_values)
    return st.one_of(json_values, deep_values)


@st.composite
def tables(draw, probeable: bool = False) -> tuple[list[str], list[list[Any]]]:
    """(column names, rows): names may repeat; usually a question and an answer."""
    columns = draw(st.lists(names, min_size=0, max_size=5))
    shapes = ["qa", "qa", "qa", "chat", "chat"] + ([] if probeable else ["any"])
    shape = draw(st.sampled_from(shapes))
    if shape == "qa":
        columns = ["question", draw(st.sampled_from(["answer", "answers"])), *columns]
    elif shape == "chat":
        columns = ["messages", *columns]
    n_rows = draw(st.integers(2 if probeable else 0, 12))
    strategies = [_value_for(c) for c in columns]
    rows = [[draw(s) for s in strategies] for _ in range(n_rows)]
    return columns, rows


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, allow_nan=True)


def _jsonl(columns, rows, draw) -> str:
    lines = [json.dumps(dict(zip(columns, row, strict=True))) for row in rows]
    if lines and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))),
                     draw(st.sampled_from(["{", "[]", "nope", "[" * 3000, '{"a": 1e999}'])))
    return "\n".join(lines)


def _csv(columns, rows, draw) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        cells = [_cell(v) for v in row]
        if cells and draw(st.sampled_from([False] * 9 + [True])):
            cells = cells[:-1]  # a short row
        writer.writerow(cells)
    return out.getvalue()


def _parquet(columns, rows) -> bytes:
    arrays = []
    for i in range(len(columns)):
        values = [row[i] for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            arrays.append(pa.array([None if v is None else _cell(v) for v in values],
                                   pa.string()))
    sink = io.BytesIO()
    try:
        pq.write_table(pa.Table.from_arrays(arrays, names=columns), sink)
    except (pa.ArrowException, OSError, ValueError):
        return b"PAR1 not writable"
    return sink.getvalue()


def bomb(expanded: int) -> bytes:
    """gzip(gzip(expanded zero bytes)), built in pieces: small on the wire, huge inside."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk, parts = b"\n" * (1 << 20), []
    for _ in range(expanded >> 20):
        parts.append(inner.compress(chunk))
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts))


@st.composite
def uploads(draw, probeable: bool = False) -> Request:
    """Any upload; `probeable` ones are mostly accepted (qa or chat rows, UTF-8, a few gzip
    layers at most, within the limits) and still have random columns and nesting."""
    fmt = draw(st.sampled_from(list(MEDIA)))
    columns, rows = draw(tables(probeable))
    repeat = 1 if probeable else draw(st.sampled_from([1] * 8 + [30, 3000]))
    rows = rows * repeat
    if fmt == "parquet":
        body = _parquet(columns, rows)
    else:
        text = _jsonl(columns, rows, draw) if fmt == "jsonl" else (
            _csv(columns, rows, draw) if fmt == "csv" else json.dumps(
                [dict(zip(columns, r, strict=True)) for r in rows]))
        encodings = ["utf-8"] * 5 + ([] if probeable else ["utf-8-sig", "utf-16", "latin-1"])
        encoding = draw(st.sampled_from(encodings))
        body = text.encode(encoding, errors="replace")
    notes = f"{fmt} columns={columns!r} rows={len(rows)}"
    if not probeable and draw(st.sampled_from([False] * 19 + [True])):  # (integers: bounds)
        body, notes = bomb(draw(st.sampled_from([8, 64])) << 20), "double-gzip bomb"
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2] + ([] if probeable else [5])))):
        body = gzip.compress(body)
    request = Request(fmt=fmt, body=body, notes=notes)
    transport = draw(st.sampled_from(["multipart", "raw", "octet", "encoded"]))
    if transport == "multipart":
        stem = draw(st.sampled_from(["d", "P36.test", "../../etc/x", "x" * 400, "名前"]))
        request.filename = f"{stem}.{fmt}" + (".gz" if body[:2] == b"\x1f\x8b" else "")
    elif transport == "octet":
        request.headers["Content-Type"] = "application/octet-stream"
        request.params["format"] = fmt
    else:
        request.headers["Content-Type"] = MEDIA[fmt]
        if transport == "encoded":
            request.body = gzip.compress(body)
            request.headers["Content-Encoding"] = "gzip"
    if not probeable and draw(st.sampled_from([False] * 3 + [True])):
        request.params["on_error"] = "fail"
    return request
