"""Reading datasets: undecodable rows, fail vs skip, limits, table building, whole-file
problems, and properties over random rows."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reading_helpers import jsonl, write, write_parquet
from slick_curator.probing.reading import DatasetError, read_dataset
from slick_curator.probing.records import RowError

# --- undecodable rows, fail vs skip, limit ----------------------------------------------------


def test_undecodable_lines_are_null_rows():
    data = b"\n".join([
        b'{"question": "q0", "answer": "a0", "n": 1}',
        b'{"question": "q1", "answer": ',
        b'{"question": "caf\xe9", "answer": "a2"}',
        b'[1, 2]',
        b'{"question": "q4", "answer": "a4", "n": 2}',
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert [(e.row, e.field) for e in ds.errors] == [(1, "<line>"), (2, "<line>"), (3, "<line>")]
    assert ds.errors[0].reason.startswith("invalid JSON: ")
    assert ds.errors[1].reason == "not valid UTF-8"
    assert ds.errors[2].reason == "expected a JSON object, got list"
    assert [e.row for e in ds.examples] == [0, 4]
    assert ds.table.num_rows == 5
    assert ds.table.column("n").to_pylist() == [1, None, None, None, 2]
    assert ds.table.column("question").to_pylist() == ["q0", None, None, None, "q4"]


def test_json_non_object_items():
    data = json.dumps([{"question": "q", "answer": "a"}, "q2", None]).encode()
    ds = read_dataset(io.BytesIO(data), format="json", on_error="skip")
    assert ds.errors == [RowError(1, "<row>", "expected a JSON object, got str"),
                         RowError(2, "<row>", "expected a JSON object, got null")]
    assert ds.table.num_rows == 3


def test_fail_lists_every_bad_row():
    rows = [{"question": "q", "answer": i} if i % 2 else {"question": "q", "answer": "a"}
            for i in range(20)]
    with pytest.raises(DatasetError) as exc:
        read_dataset(io.BytesIO(jsonl(rows)), name="d.jsonl")
    errors = exc.value.errors
    assert [e.row for e in errors] == list(range(1, 20, 2))
    assert all(e.field == "answer" for e in errors)
    message = str(exc.value)
    assert message.startswith("10 bad row(s) in d.jsonl: row 1, field 'answer': wrong type")
    assert "row 9, field 'answer'" in message and "row 11" not in message
    assert message.endswith("and 5 more")
    ds = read_dataset(io.BytesIO(jsonl(rows)), name="d.jsonl", on_error="skip")
    assert ds.errors == errors and len(ds.examples) == 10 and ds.table.num_rows == 20


def test_fail_includes_undecodable_and_field_errors_in_row_order():
    data = b'{"question": "q"}\nnot json\n{"question": "q", "answer": "a"}\n'
    with pytest.raises(DatasetError) as exc:
        read_dataset(io.BytesIO(data), format="jsonl")
    assert [(e.row, e.field) for e in exc.value.errors] == [(0, "answer"), (1, "<line>")]


def test_all_lines_undecodable():
    with pytest.raises(DatasetError, match="2 bad row") as exc:
        read_dataset(io.BytesIO(b"nope\n{\n"), format="jsonl", on_error="skip")
    assert [e.row for e in exc.value.errors] == [0, 1]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_limit_counts_bad_rows(tmp_path, fmt):
    rows = [{"question": f"q{i}", "answer": "" if i == 1 else f"a{i}"} for i in range(6)]
    path = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        write_parquet(path, rows)
    elif fmt == "csv":
        write(path, ("question,answer\n" + "".join(f"{r['question']},{r['answer'] or ' '}\n"
                                                   for r in rows)).encode())
    else:
        write(path, jsonl(rows) if fmt == "jsonl" else json.dumps(rows).encode())
    ds = read_dataset(path, limit=3, on_error="skip")
    assert ds.table.num_rows == 3
    assert [e.row for e in ds.examples] == [0, 2]
    assert [(e.row, e.field) for e in ds.errors] == [(1, "answer")]


def test_limit_with_undecodable_and_blank_lines():
    data = b'\n{"question": "q0", "answer": "a"}\n\nbad\n{"question": "q2", "answer": "a"}\nbad\n'
    ds = read_dataset(io.BytesIO(data), format="jsonl", limit=2, on_error="skip")
    assert ds.table.num_rows == 2
    assert [e.row for e in ds.errors] == [1]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"on_error": "ignore"}, "on_error"), ({"limit": 0}, "limit"),
    ({"max_text_chars": 0}, "max_text_chars"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        read_dataset(io.BytesIO(b'{"question": "q", "answer": "a"}'), format="jsonl", **kwargs)


# --- table building --------------------------------------------------------------------------


def test_mixed_type_column_falls_back_to_json_text():
    data = jsonl([
        {"id": 1, "question": "q0", "answer": "a", "meta": {"k": 1}},
        {"id": "x", "question": "q1", "answer": 1990, "meta": {"k": "v"}},
        {"id": None, "question": "q2", "answer": "b"},
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert ds.table.column("id").to_pylist() == ["1", '"x"', None]
    assert ds.table.column("answer").to_pylist() == ['"a"', "1990", '"b"']
    assert ds.table.column("meta").to_pylist() == ['{"k": 1}', '{"k": "v"}', None]
    assert ds.table.column("question").type == pa.string()
    # Validation sees the original values, not the JSON text.
    assert ds.errors == [RowError(1, "answer", "wrong type: expected string, got int")]
    assert [(e.id, e.answers) for e in ds.examples] == [("1", ("a",)), (None, ("b",))]


def test_empty_objects_become_json_text_so_the_table_writes_to_parquet():
    data = jsonl([
        {"question": "q0", "answer": "a", "meta": {}, "tags": [{}], "ok": {"k": [1]}},
        {"question": "q1", "answer": "b", "meta": None, "tags": [], "ok": None},
    ])
    table = read_dataset(io.BytesIO(data), format="jsonl").table
    assert table.column("meta").to_pylist() == ["{}", None]
    assert table.column("tags").to_pylist() == ["[{}]", "[]"]
    assert table.column("ok").to_pylist() == [{"k": [1]}, None]
    pq.write_table(table, io.BytesIO())


def test_parquet_extra_columns_kept(tmp_path):
    table = pa.table({"question": ["q"], "answer": ["a"], "score": pa.array([0.5], pa.float32())})
    pq.write_table(table, tmp_path / "d.parquet")
    assert read_dataset(tmp_path / "d.parquet").table.equals(table)


# --- whole-file problems ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "match"), [
    ("d.jsonl", b"", "file is empty"),
    ("d.json", b" \n\t", "file is empty"),
    ("d.jsonl.gz", gzip.compress(b"\n\n"), "file is empty"),
    ("d.json", b"[]", "file has no rows"),
    ("d.csv", b"question,answer\n", "file has no rows"),
    ("d.json", b'{"data": []}', "expected a JSON list of objects, got dict"),
    ("d.json", b'[{"question": ', "invalid JSON"),
    ("d.json", b'{"question": "q"}\n{"question": "r"}\n', "one object per line is JSONL"),
    ("d.json", b'[{"question": "caf\xe9"}]', "not valid UTF-8"),
    ("d.jsonl", jsonl([{"prompt": "q", "answer": "a"}]), "no 'question' column .*prompt"),
    ("d.json", b"[{}]", "no 'question' column"),
    ("d.parquet", b"not parquet at all", "unreadable Parquet"),
    ("d.csv", b"question,,answer\nq,x,a\n", "a column has an empty name"),
])
def test_whole_file_errors(name, data, match):
    with pytest.raises(DatasetError, match=match) as exc:
        read_dataset(io.BytesIO(data), name=name, on_error="skip")
    assert len(exc.value.errors) == 1 and exc.value.errors[0].row == -1
    assert str(exc.value).startswith(name)


def test_duplicate_csv_column_is_a_file_error():
    with pytest.raises(DatasetError, match="column 'answer' appears 2 times") as exc:
        read_dataset(io.BytesIO(b"question,answer,answer\nq,a,b\n"), name="d.csv")
    assert exc.value.errors[0].field == "answer"


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        read_dataset("/nonexistent/d.jsonl")


# --- properties ------------------------------------------------------------------------------

_values = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.text(max_size=3),
                                                                             max_size=2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.fixed_dictionaries({"question": _values}, optional={"answer": _values,
                                                           "answers": _values}),
    st.just("garbage"),
), min_size=1, max_size=12), st.sampled_from(["jsonl", "json"]))
def test_every_row_is_an_example_or_an_error(rows, fmt):
    rows = [{"question": "anchor", "answer": "a"}, *rows]  # guarantees the columns exist
    if fmt == "jsonl":
        data = b"\n".join(r.encode() if isinstance(r, str) else json.dumps(r).encode()
                          for r in rows)
    else:
        data = json.dumps(rows).encode()
    ds = read_dataset(io.BytesIO(data), format=fmt, on_error="skip")
    assert ds.table.num_rows == len(rows)
    good, bad = [e.row for e in ds.examples], [e.row for e in ds.errors]
    assert sorted(good + bad) == list(range(len(rows)))
    for example in ds.examples:
        assert example.question and example.answers
        assert all(a == a.strip() and a for a in example.answers)



def test_csv_with_non_utf8_header_is_a_dataset_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"question,\xff\xfeanswer\nq?,a\n")
    with pytest.raises(DatasetError, match="unreadable CSV"):
        read_dataset(path)
