"""A dataset parsed once (probing.parsed): what is read back equals what was read from the file,
and a folder that is missing, unfinished or damaged is no dataset (the caller reads the file)."""

from __future__ import annotations

import dataclasses
import json

import pyarrow as pa
import pytest
from slick_curator.probing.parsed import read_parsed, write_parsed
from slick_curator.probing.reading import read_dataset


def chat(i):
    return {"messages": [{"role": "system", "content": "Be brief."},  # context travels too
                         {"role": "user", "content": f"Where is city {i}?"},
                         {"role": "assistant", "content": f"City {i} is in Kenya."}],
            "id": f"c{i}", "meta": {"source": "forum", "score": i}}


@pytest.mark.parametrize("rows", [
    [{"question": f"Who founded firm {i}?", "answers": [f"F{i}", f"G{i}"], "relation": "P112"}
     for i in range(6)] + [{"question": "no answer here"}],
    [chat(i) for i in range(5)] + [{"messages": "hi"}],
], ids=["qa", "chat"])
def test_what_is_read_back_is_what_was_read(tmp_path, rows):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    dataset = read_dataset(path, on_error="skip")
    assert dataset.errors  # the bad last row travels too
    assert write_parsed(dataset, tmp_path / "parsed")
    back = read_parsed(tmp_path / "parsed")
    assert back is not None
    assert back.examples == dataset.examples and back.errors == dataset.errors
    assert back.table.equals(dataset.table)
    assert (back.format, back.kind, back.columns) == (dataset.format, dataset.kind,
                                                     dataset.columns)


def test_a_missing_unfinished_or_damaged_folder_is_no_dataset(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"q{i}?", "answer": "a"}) for i in range(4)))
    folder = tmp_path / "parsed"
    assert read_parsed(folder) is None
    assert write_parsed(read_dataset(path), folder)
    (folder / "examples.parquet").write_bytes(b"not parquet")
    assert read_parsed(folder) is None
    assert write_parsed(read_dataset(path), folder)
    (folder / "meta.json").unlink()  # a crash before the last file
    assert read_parsed(folder) is None


def test_a_table_parquet_cannot_hold_is_not_stored(tmp_path):
    # The reader keeps nested values as JSON text, so this only guards against a table it
    # might produce one day: a column of empty structs has no Parquet form.
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"q{i}?", "answer": "a"}) for i in range(4)))
    dataset = read_dataset(path)
    empty = pa.array([{}] * 4, type=pa.struct([]))
    odd = dataclasses.replace(dataset, table=dataset.table.append_column("extra", empty))
    assert not write_parsed(odd, tmp_path / "parsed")
    assert read_parsed(tmp_path / "parsed") is None
