"""Reading datasets: every format, answers, chat rows and groups (bad rows and whole-file
problems: test_reading_errors.py)."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reading_helpers import P36, by_row, jsonl, write, write_parquet
from slick_curator.probing.reading import ColumnMap, DatasetError, detect_format, read_dataset
from slick_curator.probing.records import Example, RowError

# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.json", "json"), ("a.csv", "csv"),
    ("a.parquet", "parquet"), ("a.pq", "parquet"), ("dir.x/A.JSONL.GZ", "jsonl"),
    ("P36.test.json.gz", "json"), ("data.csv.gz", "csv"),
])
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["a.txt", "a", "a.gz", "jsonl", "a.json.zip"])
def test_detect_format_unknown(name):
    with pytest.raises(DatasetError, match="cannot tell the format") as exc:
        detect_format(name)
    assert exc.value.errors[0].row == -1


def test_jsonl_answer_column(tmp_path):
    path = write(tmp_path / "d.jsonl", jsonl([
        {"id": 7, "question": " Capital of France? ", "answer": " Paris "},
        {"id": "007", "question": "Capital of Italy?", "answer": "Rome", "extra": [1, 2]},
    ]))
    ds = read_dataset(path)
    assert (ds.format, ds.kind, ds.errors) == ("jsonl", "qa", [])
    assert ds.examples == [
        Example(0, "Capital of France?", ("Paris",), "all", "7"),
        Example(1, "Capital of Italy?", ("Rome",), "all", "007"),
    ]
    # The table is the user's data untouched: whitespace kept, extra columns kept.
    assert ds.table.column_names == ["id", "question", "answer", "extra"]
    assert ds.table.column("question").to_pylist() == [" Capital of France? ", "Capital of Italy?"]
    assert ds.table.column("extra").to_pylist() == [None, [1, 2]]


def test_jsonl_blank_lines_do_not_count_as_rows(tmp_path):
    data = b"\n" + jsonl([{"question": "q0", "answer": "a0"}]) + b"  \r\n\n" + (
        b'{"question": "q1", "answer": 5}\r\n')
    ds = read_dataset(write(tmp_path / "d.jsonl", data), on_error="skip")
    assert ds.table.num_rows == 2
    assert [e.row for e in ds.examples] == [0]
    assert ds.errors == [RowError(1, "answer", "wrong type: expected string, got int")]


def test_json_list(tmp_path):
    rows = [{"question": "q0", "answers": ["a", "b"]}, {"question": "q1", "answers": ["c"]}]
    ds = read_dataset(write(tmp_path / "d.json", json.dumps(rows).encode()))
    assert ds.format == "json"
    assert [e.answers for e in ds.examples] == [("a", "b"), ("c",)]


def test_csv_strings_and_answer_lists(tmp_path):
    data = (
        'id,question,answers\n'
        '007,Who?,"[""Ann"", ""Anne""]"\n'
        '008,When?,1990\n'
        '009,What?,[citation needed]\n'
        '010,Which?, ["x"] \n'
    ).encode()
    ds = read_dataset(write(tmp_path / "d.csv", data))
    assert ds.format == "csv"
    assert all(t == pa.string() for t in ds.table.schema.types)
    assert ds.table.column("id").to_pylist() == ["007", "008", "009", "010"]
    assert [(e.id, e.answers) for e in ds.examples] == [
        ("007", ("Ann", "Anne")), ("008", ("1990",)), ("009", ("[citation needed]",)),
        ("010", ("x",)),
    ]


def test_csv_empty_cell_means_not_given(tmp_path):
    data = b'question,answer,answers\nq0,a,\nq1,,"[""b""]"\nq2,,\n ,a,\n'
    ds = read_dataset(write(tmp_path / "d.csv", data), on_error="skip")
    assert [(e.row, e.answers) for e in ds.examples] == [(0, ("a",)), (1, ("b",))]
    assert by_row(ds.errors) == {
        2: ("answer", "missing: the row has neither 'answer' nor 'answers'"),
        3: ("question", "empty"),
    }
    assert ds.table.column("answer").to_pylist() == ["a", "", "", "a"]


def test_csv_json_array_with_bad_item(tmp_path):
    data = b'question,answers\nq0,"[""a"", 3]"\nq1,"[]"\n'
    ds = read_dataset(write(tmp_path / "d.csv", data), on_error="skip")
    assert by_row(ds.errors) == {
        0: ("answers", "item 1: wrong type: expected string, got int"),
        1: ("answers", "empty list"),
    }


def test_parquet(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", [
        {"question": "q0", "answers": ["a", "b"], "id": 1},
        {"question": "q1", "answers": None, "id": 2},
    ])
    ds = read_dataset(path, on_error="skip")
    assert ds.format == "parquet"
    assert ds.examples == [Example(0, "q0", ("a", "b"), "all", "1")]
    assert ds.errors == [RowError(1, "answers", "missing: the row has neither 'answer' nor "
                                                 "'answers'")]
    assert ds.table.num_rows == 2


def test_parquet_wrong_type(tmp_path):
    path = write_parquet(tmp_path / "d.pq", [{"question": "q0", "answer": 1990}])
    with pytest.raises(DatasetError) as exc:
        read_dataset(path)
    assert exc.value.errors == [RowError(0, "answer", "wrong type: expected string, got int")]


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_gzip_by_suffix_and_stream(tmp_path, suffix):
    rows = [{"question": "q0", "answer": "a0"}, {"question": "q1", "answer": "a1"}]
    if suffix == "parquet":
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), sink)
        raw = sink.getvalue()
    elif suffix == "csv":
        raw = b"question,answer\nq0,a0\nq1,a1\n"
    else:
        raw = jsonl(rows) if suffix == "jsonl" else json.dumps(rows).encode()
    packed = gzip.compress(raw)
    expected = [Example(0, "q0", ("a0",)), Example(1, "q1", ("a1",))]
    assert read_dataset(write(tmp_path / f"d.{suffix}.gz", packed)).examples == expected
    # Streams: gzip is sniffed from the magic bytes, whatever the name says.
    for data in (raw, packed):
        assert read_dataset(io.BytesIO(data), name=f"d.{suffix}").examples == expected
        ds = read_dataset(io.BytesIO(data), format=suffix)
        assert (ds.format, ds.examples) == (suffix, expected)


def test_open_file_stream_uses_its_name(tmp_path):
    path = write(tmp_path / "P17.dev.jsonl", jsonl([{"question": "q", "answer": "a"}]))
    with open(path, "rb") as f:
        ds = read_dataset(f)
    assert (ds.format, ds.examples[0].group) == ("jsonl", "P17")


def test_unnamed_stream_needs_format():
    with pytest.raises(DatasetError, match="pass format= or name="):
        read_dataset(io.BytesIO(b'{"question": "q", "answer": "a"}\n'))


def test_unknown_format_argument():
    with pytest.raises(DatasetError, match="unknown format 'xml'"):
        read_dataset(io.BytesIO(b"<x/>"), format="xml")


def test_text_stream_rejected():
    with pytest.raises(TypeError, match="binary"):
        read_dataset(io.StringIO('{"question": "q", "answer": "a"}\n'), format="jsonl")


def test_corrupt_gzip():
    data = gzip.compress(jsonl([{"question": "q", "answer": "a"}] * 50))[:-20]
    with pytest.raises(DatasetError, match="corrupt gzip"):
        read_dataset(io.BytesIO(data), name="d.jsonl.gz")


# --- answers ---------------------------------------------------------------------------------


def test_answer_and_answers_merge_in_order():
    data = jsonl([
        {"question": "q0", "answer": "Paris", "answers": ["City of Light", " Paris ", "Paris"]},
        {"question": "q1", "answer": "Rome"},
        {"question": "q2", "answers": ["Oslo", "Christiania"]},
        {"question": "q3", "answer": None, "answers": ["Bern"]},
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl")
    assert [e.answers for e in ds.examples] == [
        ("Paris", "City of Light"), ("Rome",), ("Oslo", "Christiania"), ("Bern",)]


@pytest.mark.parametrize(("row", "field", "reason"), [
    ({"answer": "a"}, "question", "missing"),
    ({"question": None, "answer": "a"}, "question", "missing"),
    ({"question": "  \t", "answer": "a"}, "question", "empty"),
    ({"question": 42, "answer": "a"}, "question", "wrong type: expected string, got int"),
    ({"question": "q"}, "answer", "missing: the row has neither 'answer' nor 'answers'"),
    ({"question": "q", "answer": ""}, "answer", "empty"),
    ({"question": "q", "answer": 1990}, "answer", "wrong type: expected string, got int"),
    ({"question": "q", "answer": 1.5}, "answer", "wrong type: expected string, got float"),
    ({"question": "q", "answer": ["a"]}, "answer", "wrong type: expected string, got list"),
    ({"question": "q", "answers": "a"}, "answers",
     "wrong type: expected list of strings, got str"),
    ({"question": "q", "answers": []}, "answers", "empty list"),
    ({"question": "q", "answers": ["a", 1990]}, "answers",
     "item 1: wrong type: expected string, got int"),
    ({"question": "q", "answers": ["a", " "]}, "answers", "item 1: empty"),
    ({"question": "q", "answers": [None]}, "answers", "item 0: missing"),
    ({"question": "q", "answer": "a", "answers": [True]}, "answers",
     "item 0: wrong type: expected string, got bool"),
])
def test_qa_row_errors(row, field, reason):
    good = {"question": "ok", "answer": "fine"}
    data = jsonl([good, row, good])
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert ds.errors == [RowError(1, field, reason)]
    assert [e.row for e in ds.examples] == [0, 2]
    assert ds.table.num_rows == 3


def test_no_answer_column_at_all():
    with pytest.raises(DatasetError, match="no 'answer' or 'answers' column") as exc:
        read_dataset(io.BytesIO(jsonl([{"question": "q", "gold": "a"}])), format="jsonl")
    assert exc.value.errors == [RowError(-1, "answer", exc.value.errors[0].reason)]


def test_custom_column_map():
    cols = ColumnMap(question="prompt", answer="gold", id="uid")
    data = jsonl([{"prompt": "q", "gold": "a", "uid": 3, "question": 1}])
    ds = read_dataset(io.BytesIO(data), format="jsonl", columns=cols)
    assert ds.examples == [Example(0, "q", ("a",), "all", "3")]
    assert ds.columns == cols


def test_max_text_chars():
    data = jsonl([
        {"question": "short", "answer": "ok"},
        {"question": "x" * 11, "answer": "ok"},
        {"question": "q", "answers": ["ok", "y" * 12]},
        {"question": "  exactly10!  ", "answer": "ok"},
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip", max_text_chars=10)
    assert ds.errors == [
        RowError(1, "question", "too long: 11 characters, limit 10"),
        RowError(2, "answers", "item 1: too long: 12 characters, limit 10"),
    ]
    assert [e.row for e in ds.examples] == [0, 3]


# --- chat rows -------------------------------------------------------------------------------


def chat(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def test_chat_rows():
    data = jsonl([
        chat(("user", "Capital of France?"), ("assistant", " Paris ")),
        chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"),
             ("user", " Capital of Peru? "), ("assistant", "Lima")),
        chat(("system", "s"), ("user", "u1"), ("user", "u2"), ("tool", "t"),
             ("assistant", "a")),
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl")
    assert ds.kind == "chat"
    assert [(e.question, e.answers) for e in ds.examples] == [
        ("Capital of France?", ("Paris",)), ("Capital of Peru?", ("Lima",)), ("u2", ("a",))]


@pytest.mark.parametrize(("row", "reason"), [
    (chat(("user", "q")), "no final assistant turn"),
    (chat(("user", "q"), ("assistant", "a"), ("user", "q2")), "no final assistant turn"),
    ({"messages": []}, "no final assistant turn"),
    (chat(("system", "s"), ("assistant", "a")), "no user turn before the final assistant turn"),
    (chat(("assistant", "a"), ("user", "q")), "no final assistant turn"),
    ({"messages": "hi"}, "wrong type: expected a list of messages, got str"),
    ({"messages": None}, "missing"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
     "message 0: expected an object with string 'role' and 'content'"),
    ({"messages": ["user: q", "assistant: a"]},
     "message 0: expected an object with string 'role' and 'content'"),
    (chat(("user", " "), ("assistant", "a")), "user turn: empty"),
    (chat(("user", "q"), ("assistant", "")), "assistant turn: empty"),
])
def test_chat_row_errors(row, reason):
    data = jsonl([chat(("user", "q"), ("assistant", "a")), row])
    ds = read_dataset(io.BytesIO(data), format="jsonl", on_error="skip")
    assert ds.errors == [RowError(1, "messages", reason)]
    assert len(ds.examples) == 1


def test_chat_parquet_and_question_column_wins(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", [
        chat(("user", "q0"), ("assistant", "a0")), chat(("user", "q1"), ("assistant", "a1"))])
    ds = read_dataset(path)
    assert (ds.kind, [e.question for e in ds.examples]) == ("chat", ["q0", "q1"])
    both = jsonl([{"question": "Q", "answer": "A", **chat(("user", "q"), ("assistant", "a"))}])
    ds = read_dataset(io.BytesIO(both), format="jsonl")
    assert (ds.kind, ds.examples[0].question) == ("qa", "Q")


def test_chat_in_csv_as_json_text():
    cell = json.dumps(chat(("user", "q"), ("assistant", "a"))["messages"]).replace('"', '""')
    data = f'messages\n"{cell}"\nnot json\n'.encode()
    ds = read_dataset(io.BytesIO(data), format="csv", on_error="skip")
    assert [(e.question, e.answers) for e in ds.examples] == [("q", ("a",))]
    assert ds.errors[0].row == 1 and ds.errors[0].reason.startswith("invalid JSON")


# --- groups ----------------------------------------------------------------------------------


def test_entity_questions_file():
    rows = json.loads(P36.read_text())
    ds = read_dataset(P36)
    assert (ds.format, ds.kind, ds.errors) == ("json", "qa", [])
    assert ds.table.num_rows == len(ds.examples) == len(rows)
    assert {e.group for e in ds.examples} == {"P36"}
    assert ds.columns.group is None
    assert ds.examples[0].question == rows[0]["question"]
    assert list(ds.examples[0].answers) == rows[0]["answers"]


def test_group_from_relation_column_beats_file_name():
    data = jsonl([{"question": "q", "answer": "a", "relation": 36}])
    ds = read_dataset(io.BytesIO(data), name="P17.train.jsonl")
    assert ds.examples[0].group == "36"
    assert ds.columns.group == "relation"


def test_explicit_group_column():
    data = jsonl([
        {"question": "q", "answer": "a", "topic": "geo", "relation": "P1"},
        {"question": "q", "answer": "a", "topic": None},
        {"question": "q", "answer": "a", "topic": " "},
        {"question": "q", "answer": "a"},
    ])
    ds = read_dataset(io.BytesIO(data), format="jsonl", columns=ColumnMap(group="topic"),
                      on_error="skip")
    assert ds.examples[0].group == "geo"
    assert by_row(ds.errors) == {1: ("topic", "missing"), 2: ("topic", "empty"),
                                 3: ("topic", "missing")}


def test_missing_group_column_is_named():
    with pytest.raises(DatasetError, match="group column 'topic' not found") as exc:
        read_dataset(io.BytesIO(jsonl([{"question": "q", "answer": "a"}])), format="jsonl",
                     columns=ColumnMap(group="topic"))
    assert exc.value.errors[0].field == "topic"


@pytest.mark.parametrize(("name", "group"), [
    ("P36.dev.jsonl", "P36"), ("data/P131.train.json.gz", "P131"), ("p36.dev.jsonl", "all"),
    ("xP36.dev.jsonl", "all"), ("P36x.jsonl", "all"), ("train.jsonl", "all"),
])
def test_group_from_file_name(name, group):
    rows = [{"question": "q", "answer": "a"}]
    data = json.dumps(rows).encode() if detect_format(name) == "json" else jsonl(rows)
    if name.endswith(".gz"):
        data = gzip.compress(data)
    assert read_dataset(io.BytesIO(data), name=name).examples[0].group == group
