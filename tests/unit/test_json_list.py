"""A JSON list read item by item (probing.json_list) gives what `json.loads` of the whole file
gives -- the same values, the same errors with the same line and column -- wherever the chunks
it is read in happen to cut the text, and holds one item at a time, not the file."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slick_curator.probing import byte_source, json_list
from slick_curator.probing.byte_source import ByteSource
from slick_curator.probing.json_list import json_list_items
from slick_curator.probing.read_errors import DatasetError
from slick_curator.probing.reading import read_dataset


def items(data: bytes, chunk: int | None = None, monkeypatch=None) -> list:
    if chunk is not None:
        monkeypatch.setattr(byte_source, "READ_CHUNK", chunk)
        monkeypatch.setattr(json_list, "_KEEP", chunk)
        monkeypatch.setattr(json_list, "_READ_AT_LEAST", chunk)
    return list(json_list_items(ByteSource(data=data, name="d.json"), "d.json"))


def whole_file_error(data: bytes) -> str:
    try:
        json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        return f"d.json: invalid JSON: {exc}"
    raise AssertionError("valid JSON")


TRICKY = [
    {"q": "Ünïcödé — 日本語 🎉", "a": ["x\\\"y", "tab\there", "\u00e9\U0001f389"]},
    {"n": 12345678901234567890123, "f": -1.5e-300, "t": True, "z": None, "e": [], "o": {}},
    {"deep": [[[{"k": [1, [2, [3]]]}]]], "nan": float("nan") != float("nan")},
    "not an object", 7, None, [1, 2],
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
@pytest.mark.parametrize("layout", ["compact", "indented", "crlf", "bom"])
def test_items_equal_json_loads_wherever_the_chunks_cut(monkeypatch, chunk, layout):
    text = json.dumps(TRICKY, ensure_ascii=layout != "compact",
                      indent=None if layout == "compact" else 2)
    data = text.replace("\n", "\r\n").encode() if layout == "crlf" else text.encode()
    if layout == "bom":
        data = b"\xef\xbb\xbf" + data
    assert items(data, chunk, monkeypatch) == json.loads(data.decode("utf-8-sig"))


@pytest.mark.parametrize("data", [
    b'[{"a": 1} {"b": 2}]',
    b'[1,]',
    b'[1, 2',
    b'[',
    b'[{"a": tru}]',
    b'[{"a": "x}]',
    b'[{"a": 1}]\n[2]',
    b'[\n  {"a": 1},\n  {"b": 2,}\n]',
    b'{"question": "q"}\n{"question": "r"}\n',
    b'  ',
])
@pytest.mark.parametrize("chunk", [1, 4, 1 << 20])
def test_invalid_json_is_refused_as_json_loads_refuses_it(monkeypatch, data, chunk):
    expected = whole_file_error(data)
    if "Extra data" in expected:
        expected += " (one object per line is JSONL)"
    with pytest.raises(DatasetError) as caught:
        items(data, chunk, monkeypatch)
    assert str(caught.value) == expected


@pytest.mark.parametrize(("data", "message"), [
    (b'{"data": []}', "expected a JSON list of objects, got dict"),
    (b'"text"', "expected a JSON list of objects, got str"),
    (b"[" * 100_000, "invalid JSON: nested too deeply to parse"),
    (b'[{"a": "ok"}, {"b": "\xff"}]', "not valid UTF-8"),
])
def test_what_is_no_list_is_refused(monkeypatch, data, message):
    with pytest.raises(DatasetError, match=message):
        items(data, 16, monkeypatch)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(value=st.lists(json_values, max_size=8), chunk=st.integers(1, 40),
       indent=st.sampled_from([None, 0, 1, 3]), ascii_only=st.booleans())
def test_any_list_reads_back_as_json_loads_reads_it(value, chunk, indent, ascii_only):
    data = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode()
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert items(data, chunk, monkeypatch) == json.loads(data)


def test_a_large_list_is_read_holding_an_item_at_a_time(tmp_path):
    rows = [{"question": f"Which country is place number {i} in?", "answers": [f"Land {i}"],
             "relation": "P17", "id": i} for i in range(60_000)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    tracemalloc.start()
    try:
        count = sum(1 for _ in json_list_items(ByteSource(path=str(path)), "rows.json"))
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        json.loads(path.read_text())
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == len(rows)
    assert streamed < whole / 5, (streamed, whole)


def test_a_json_list_reads_into_the_rows_a_whole_file_parse_gave(tmp_path):
    rows = [{"question": f"Q{i}?", "answer": f"A{i}", "id": i if i % 2 else str(i)}
            for i in range(20_000)]
    rows[7] = ["not", "an", "object"]
    path = tmp_path / "P36.json"
    path.write_text(json.dumps(rows))
    data = read_dataset(path, on_error="skip")
    assert len(data.examples) == 19_999 and data.errors[0].row == 7
    assert data.table.column("id").type == "string"  # ints and strings: kept as JSON text
    assert data.examples[-1].question == "Q19999?"
    assert read_dataset(path, limit=5, on_error="skip").table.num_rows == 5


@settings(max_examples=300, deadline=None)
@given(value=st.lists(json_values, min_size=1, max_size=6), chunk=st.integers(1, 30),
       data=st.data())
def test_a_damaged_list_fails_as_json_loads_fails(value, chunk, data):
    text = json.dumps(value, indent=data.draw(st.sampled_from([None, 1])))
    at = data.draw(st.integers(0, len(text)))
    damaged = (text[:at] + data.draw(st.sampled_from(["", ",", "]", "x", "}", '"', "1"]))
               + text[at + data.draw(st.integers(0, 3)):]).encode()
    try:
        expected = json.loads(damaged)
    except json.JSONDecodeError:
        expected = None
    with pytest.MonkeyPatch.context() as monkeypatch:
        if expected is None or not isinstance(expected, list):
            with pytest.raises(DatasetError) as caught:
                items(damaged, chunk, monkeypatch)
            if expected is None and damaged.strip()[:1] == b"[":
                message = whole_file_error(damaged)
                if "Extra data" in message:
                    message += " (one object per line is JSONL)"
                assert str(caught.value) == message
        else:
            assert items(damaged, chunk, monkeypatch) == expected
