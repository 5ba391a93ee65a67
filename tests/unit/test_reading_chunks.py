"""Reading in chunks (probing.read_formats, byte_source): a file read a few rows and a few bytes
at a time gives exactly what one whole-file read gives, whatever falls on a chunk boundary
(a type that changes, a bad line, a CRLF, a multi-byte character), and uploads store it so."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reading_helpers import jsonl, write
from slick_curator.probing import byte_source, read_formats
from slick_curator.probing.parsed import ParsedWriter, read_parsed
from slick_curator.probing.reading import (
    DatasetTooLarge,
    ReadLimits,
    read_dataset,
    scan_dataset,
)


def rows(n=23):
    out = []
    for i in range(n):
        row = {"question": f"Où est la ville n° {i}?\u2028", "answers": [f"Ville {i}"],
               "relation": f"P{i % 3}",
               # int early, float later: one double column, as one whole-file pass infers
               "score": i if i < 10 else i + 0.5,
               # int early, text later: no Arrow type holds both, so the column is JSON text
               "ref": i if i < 15 else f"r{i}",
               # struct fields that appear later are merged in
               "meta": {"a": i} if i < 12 else {"a": i, "b": "x"}}
        if i == 16:
            del row["answers"]  # a row error in a later chunk
        out.append(row)
    return out


def read_small_and_whole(monkeypatch, path, **kwargs):
    whole = read_dataset(path, on_error="skip", **kwargs)
    monkeypatch.setattr(read_formats, "CHUNK_ROWS", 4)
    monkeypatch.setattr(read_formats, "_PARQUET_BATCH", 3)
    monkeypatch.setattr(byte_source, "READ_CHUNK", 7)
    small = read_dataset(path, on_error="skip", **kwargs)
    return whole, small


def assert_same(whole, small):
    assert small.table.equals(whole.table)
    assert small.examples == whole.examples and small.errors == whole.errors
    assert (small.format, small.kind, small.columns) == (whole.format, whole.kind, whole.columns)


def test_a_jsonl_read_in_small_chunks_is_the_whole_file_read(tmp_path, monkeypatch):
    data = jsonl(rows()).replace(b"\n", b"\r\n", 5)  # CRLF lines too
    lines = data.split(b"\n")
    lines.insert(9, b"{not json")  # a bad line in the third chunk
    lines.insert(3, b"   ")  # a blank line is no row
    path = write(tmp_path / "d.jsonl", b"\xef\xbb\xbf" + b"\n".join(lines))
    whole, small = read_small_and_whole(monkeypatch, path)
    assert_same(whole, small)
    t = small.table.schema
    assert t.field("score").type == pa.float64() and t.field("ref").type == pa.string()
    assert small.table.column("ref").to_pylist()[:2] == ["0", "1"]  # JSON text of the ints
    assert t.field("meta").type == pa.struct([("a", pa.int64()), ("b", pa.string())])
    assert [e.row for e in small.errors] == [9, 17]  # the bad line, then the row without answers
    assert small.examples[0].question == "Où est la ville n° 0?"


def test_gzip_csv_and_parquet_read_in_small_chunks_are_whole_file_reads(tmp_path, monkeypatch):
    data = rows()
    gz = write(tmp_path / "d.jsonl.gz", gzip.compress(jsonl(data)))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["question", "answers", "relation"])
    for i, r in enumerate(data):
        # a quoted field spanning lines, and a line with a field too many
        writer.writerow([r["question"] + ("\nsecond line" if i == 5 else ""),
                         json.dumps(r.get("answers", [])), r["relation"]]
                        + (["extra"] if i == 11 else []))
    the_csv = write(tmp_path / "d.csv", text.getvalue().encode())
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "ref"}
                                         for r in data]), parquet)
    for path in (gz, the_csv, parquet):
        assert_same(*read_small_and_whole(monkeypatch, path))
        monkeypatch.undo()


def test_a_row_limit_past_the_first_chunk_is_a_413_and_limit_reads_only_its_rows(
        tmp_path, monkeypatch):
    monkeypatch.setattr(read_formats, "CHUNK_ROWS", 4)
    path = tmp_path / "d.csv"
    path.write_text("question,answer\n" + "".join(f"q{i}?,a{i}\n" for i in range(20)))
    scan = scan_dataset(path, limits=ReadLimits(max_rows=10))
    with pytest.raises(DatasetTooLarge, match="more than 10 rows"):
        list(scan.chunks())
    assert read_dataset(path, limit=6).table.num_rows == 6


def test_a_failed_upload_leaves_no_parsed_folder_and_a_finished_one_replaces_the_old(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(jsonl([{"question": f"q{i}?", "answer": "a"} for i in range(5)]))
    folder = tmp_path / "parsed" / "ds_1"
    with pytest.raises(RuntimeError), ParsedWriter(folder) as writer:
        for chunk in scan_dataset(path).chunks():
            writer.add(chunk)
        raise RuntimeError("the upload was rejected")
    assert not folder.exists() and list((tmp_path / "parsed").iterdir()) == []
    for n in (5, 3):  # the second write replaces the first
        with ParsedWriter(folder) as writer:
            scan = scan_dataset(path, limit=n)
            for chunk in scan.chunks():
                writer.add(chunk)
            assert writer.finish(scan.format, scan.kind, scan.columns)
        assert len(read_parsed(folder).examples) == n
    assert [p.name for p in (tmp_path / "parsed").iterdir()] == ["ds_1"]


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_the_pool_of_a_limited_read_is_every_valid_row_of_the_file(tmp_path, suffix):
    from slick_curator.probing.file_pool import read_examples

    good = [{"question": f"Who wrote book {i}?", "answer": f"A{i}", "relation": "P50"}
            for i in range(30)]
    good[7]["answer"] = ""  # a bad row is no exemplar
    path = tmp_path / f"P50.{suffix}"
    if suffix == "jsonl":
        path.write_bytes(jsonl(good[:20]) + b"{oops\n" + jsonl(good[20:]))
    else:
        path.write_text("question,answer,relation\n"
                        + "".join(f"{r['question']},{r['answer']},{r['relation']}\n"
                                  for r in good))
    head = read_dataset(path, limit=5)
    assert read_examples(path, like=head) == read_dataset(path, on_error="skip").examples
