"""The reader's bounds: every gzip layer, rows, columns, nesting depth, and bad cells as row
errors (never a whole-file rejection for one bad line)."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slick_curator.probing.decoding import MAX_GZIP_LAYERS, DecodeError, gunzip_all
from slick_curator.probing.reading import (
    DatasetError,
    DatasetTooLarge,
    ReadLimits,
    read_dataset,
)
from slick_curator.probing.records import RowError

LINE = b'{"question": "q?", "answer": "a"}\n'


def nested(depth: int, leaf="x"):
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def parquet_bytes(table: pa.Table, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def test_double_gzip_is_decoded_and_bounded():
    data = LINE * 1000
    twice = gzip.compress(gzip.compress(data))
    assert len(read_dataset(io.BytesIO(twice), format="jsonl").examples) == 1000
    with pytest.raises(DatasetTooLarge, match="after decompression") as exc:
        read_dataset(io.BytesIO(twice), format="jsonl", limits=ReadLimits(max_bytes=10_000))
    assert (exc.value.what, exc.value.limit) == ("bytes", 10_000)


def test_too_many_gzip_layers():
    data = LINE
    for _ in range(MAX_GZIP_LAYERS + 1):
        data = gzip.compress(data)
    with pytest.raises(DatasetError, match="nested gzip layers"):
        read_dataset(io.BytesIO(data), format="jsonl")
    with pytest.raises(DecodeError):
        gunzip_all([data])


def test_gunzip_in_small_pieces_equals_gzip_decompress():
    data = bytes(range(256)) * 5000
    packed = gzip.compress(gzip.compress(data) + gzip.compress(b"tail"))  # two inner members
    pieces = [packed[i:i + 97] for i in range(0, len(packed), 97)]
    assert gunzip_all(pieces) == data + b"tail"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_rows_limit(fmt):
    rows = [{"question": f"q{i}", "answer": "a"} for i in range(11)]
    if fmt == "jsonl":
        data = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    elif fmt == "csv":
        data = b"question,answer\n" + b"".join(f"q{i},a\n".encode() for i in range(11))
    else:
        data = parquet_bytes(pa.Table.from_pylist(rows))
    assert read_dataset(io.BytesIO(data), format=fmt,
                        limits=ReadLimits(max_rows=11)).table.num_rows == 11
    with pytest.raises(DatasetTooLarge, match="more than 10 rows") as exc:
        read_dataset(io.BytesIO(data), format=fmt, limits=ReadLimits(max_rows=10))
    assert exc.value.what == "rows"


def test_deep_jsonl_line_is_that_rows_error():
    data = (LINE + json.dumps({"question": "q1", "answer": "a", "extra": nested(33)}).encode()
            + b"\n" + b"[" * 100_000 + b"\n"
            + json.dumps({"question": "q3", "answer": "a", "extra": nested(2)}).encode())
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert [e.row for e in ds.examples] == [0, 3]
    assert ds.errors == [
        RowError(1, "extra", "nested more than 32 levels deep (the limit)"),
        RowError(2, "<line>", "invalid JSON: nested too deeply to parse"),
    ]
    assert ds.table.column("extra").to_pylist() == [None, None, None, nested(2)]  # bad: null
    pq.write_table(ds.table, io.BytesIO())
    within = json.dumps({"question": "q", "answer": "a", "extra": nested(32)}).encode()
    assert read_dataset(io.BytesIO(within), format="jsonl").errors == []


def test_depth_limit_is_configurable_but_capped():
    data = LINE + json.dumps({"question": "q", "answer": "a", "extra": nested(3)}).encode()
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip",
                      limits=ReadLimits(max_depth=2))
    assert ds.errors[0].field == "extra"
    with pytest.raises(ValueError, match="max_depth"):
        ReadLimits(max_depth=33)


def test_deep_json_list_item_is_that_rows_error():
    rows = [{"question": "q0", "answer": "a"}, {"question": "q1", "answer": "a",
                                                "x": [nested(40)]}]
    ds = read_dataset(io.BytesIO(json.dumps(rows).encode()), format="json", on_error="skip")
    assert [(e.row, e.field) for e in ds.errors] == [(1, "x")]
    with pytest.raises(DatasetError, match="nested too deeply to parse"):
        read_dataset(io.BytesIO(b"[" * 100_000), format="json")


def test_deep_parquet_column_is_a_file_error_naming_it():
    table = pa.table({"question": ["q"], "answer": ["a"], "deep": pa.array([nested(33)])})
    with pytest.raises(DatasetError, match="column 'deep' is nested 33 levels deep") as exc:
        read_dataset(io.BytesIO(parquet_bytes(table)), format="parquet")
    assert exc.value.errors[0].field == "deep"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duplicate_columns_agree_across_formats(fmt):
    if fmt == "csv":
        data = b"question,answer,n,n\nq,a,1,2\n"
    else:
        table = pa.Table.from_arrays([pa.array(["q"]), pa.array(["a"]), pa.array([1]),
                                      pa.array([2])], names=["question", "answer", "n", "n"])
        data = parquet_bytes(table)
    with pytest.raises(DatasetError, match="column 'n' appears 2 times") as exc:
        read_dataset(io.BytesIO(data), format=fmt, name=f"d.{fmt}")
    assert exc.value.errors == [RowError(-1, "n", exc.value.errors[0].reason)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_columns_limit(fmt):
    names = ["question", "answer"] + [f"c{i}" for i in range(9)]
    if fmt == "csv":
        data = (",".join(names) + "\n" + ",".join("v" for _ in names) + "\n").encode()
    elif fmt == "jsonl":
        data = json.dumps(dict.fromkeys(names, "v")).encode()
    else:
        data = parquet_bytes(pa.table({n: ["v"] for n in names}))
    assert read_dataset(io.BytesIO(data), format=fmt, limits=ReadLimits(max_columns=11))
    with pytest.raises(DatasetError, match="11 .*columns, more than the limit of 10"):
        read_dataset(io.BytesIO(data), format=fmt, limits=ReadLimits(max_columns=10))


def test_one_bad_csv_cell_or_line_is_that_rows_error():
    data = ("question,answer,note\n"
            "q0,a,fine\n"
            "q1,a,caf\xe9\n"
            "q2,a\n"
            "q3,a,x,extra\n"
            '"q4 with a\nnewline",a,ok\n').encode("latin-1")
    ds = read_dataset(io.BytesIO(data), format="csv", on_error="skip")
    assert ds.table.num_rows == 5
    assert [(e.row, e.question) for e in ds.examples] == [(0, "q0"), (4, "q4 with a\nnewline")]
    assert ds.errors == [
        RowError(1, "note", "not valid UTF-8"),
        RowError(2, "<line>", "2 field(s) where the header has 3"),
        RowError(3, "<line>", "4 field(s) where the header has 3"),
    ]
    assert ds.table.column("note").to_pylist() == ["fine", None, None, None, "ok"]
    with pytest.raises(DatasetError, match="3 bad row"):
        read_dataset(io.BytesIO(data), format="csv", on_error="fail")


def test_long_csv_cell_is_not_a_file_error():
    data = b"question,answer\n" + b"q" * 300_000 + b",a\n"
    ds = read_dataset(io.BytesIO(data), format="csv", on_error="skip", max_text_chars=1000)
    assert ds.errors[0].reason.startswith("too long")


def test_lone_surrogates_and_bad_names_in_json_are_row_errors():
    data = (LINE + b'{"question": "\\ud800", "answer": "a"}\n' + b'{"": 1, "question": "q",'
            b' "answer": "a"}\n' + b'{"question": "q", "answer": "a", "n": 1' + b"0" * 5000
            + b"}\n")
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert [e.row for e in ds.examples] == [0]
    assert [(e.row, e.field) for e in ds.errors] == [(1, "question"), (2, "<line>"),
                                                     (3, "<line>")]
    assert "empty name" in ds.errors[1].reason and "invalid JSON" in ds.errors[2].reason


def test_parquet_dictionary_bomb_is_bounded():
    table = pa.table({"question": pa.array(["q" * 10_000] * 5000).dictionary_encode(),
                      "answer": ["a"] * 5000})
    data = parquet_bytes(table)
    assert len(data) < 100_000
    with pytest.raises(DatasetTooLarge, match="Parquet data is") as exc:
        read_dataset(io.BytesIO(data), format="parquet", limits=ReadLimits(max_bytes=1_000_000))
    assert exc.value.what == "bytes"
