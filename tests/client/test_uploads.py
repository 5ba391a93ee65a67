"""Uploads: Content-Type and Content-Encoding by suffix, query options, bodies streamed in
chunks from disk, and in-memory data (pandas, polars, pyarrow, list of dicts) sent as Parquet."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tempfile

import httpx
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from client_support import Runner, Server, dataset_json
from slick_client._uploads import CHUNK_SIZE

ROWS = [
    {"question": "Where is Paris?", "answer": "France", "relation": "P17"},
    {"question": "Where is Rome?", "answer": "Italy", "relation": "P17"},
]


@pytest.mark.parametrize(
    ("filename", "content_type", "encoding"),
    [
        ("train.jsonl", "application/x-ndjson", None),
        ("train.ndjson", "application/x-ndjson", None),
        ("P36.test.json", "application/json", None),
        ("train.csv", "text/csv", None),
        ("train.parquet", "application/vnd.apache.parquet", None),
        ("train.jsonl.gz", "application/x-ndjson", "gzip"),
        ("train.csv.gz", "text/csv", "gzip"),
        ("train.JSON.GZ", "application/json", "gzip"),
        ("train.txt", "application/octet-stream", None),
    ],
)
def test_file_upload_headers_and_query(run: Runner, server: Server, tmp_path, filename,
                                       content_type, encoding):
    path = tmp_path / filename
    payload = b'{"question": "q", "answer": "a"}\n'
    path.write_bytes(gzip.compress(payload) if encoding else payload)
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    ds = run(lambda c: c.datasets.upload(path))
    assert ds.id == "ds1"
    (req,) = server.requests
    assert req.method == "POST" and req.url.path == "/v1/datasets"
    assert req.headers["content-type"] == content_type
    assert req.headers.get("content-encoding") == encoding
    assert req.headers["content-length"] == str(path.stat().st_size)
    assert dict(req.url.params) == {"name": filename, "on_error": "skip"}
    assert server.bodies[0] == path.read_bytes()  # sent as stored: gzip stays compressed


def test_upload_options_go_to_the_query(run: Runner, server: Server, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("q,a\n")
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    run(lambda c: c.datasets.upload(
        path, name="mine", format="csv", on_error="fail", question_column="q",
        answer_column="a", answers_column="aliases", messages_column="msgs", id_column="uid",
        group_column="rel"))
    req = server.requests[0]
    assert req.headers["content-type"] == "text/csv"  # from format=, not the suffix
    assert dict(req.url.params) == {
        "name": "mine", "format": "csv", "on_error": "fail", "question_column": "q",
        "answer_column": "a", "answers_column": "aliases", "messages_column": "msgs",
        "id_column": "uid", "group_column": "rel",
    }


def test_same_content_again_answers_200(run: Runner, server: Server, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n')
    server.route("POST", "/v1/datasets", httpx.Response(200, json=dataset_json(id="old")))
    assert run(lambda c: c.datasets.upload(path)).id == "old"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_large_file_is_streamed_in_chunks(server: Server, tmp_path, mode):
    path = tmp_path / "big.jsonl"
    line = b'{"question": "%d", "answer": "x"}\n'
    with open(path, "wb") as handle:
        for i in range(150_000):
            handle.write(line % i)
    size = path.stat().st_size
    assert size > 3 * CHUNK_SIZE
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    Runner(server, mode)(lambda c: c.datasets.upload(path))
    (chunks,) = server.chunks
    assert sum(chunks) == size
    assert len(chunks) >= 4 and max(chunks) <= CHUNK_SIZE


def test_binary_file_object(run: Runner, server: Server):
    payload = b'{"question": "q", "answer": "a"}\n'
    buffer = io.BytesIO(b"junk" + payload)
    buffer.seek(4)  # from the current position on
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    run(lambda c: c.datasets.upload(buffer, name="rows.jsonl"))
    req = server.requests[0]
    assert req.headers["content-type"] == "application/x-ndjson"
    assert req.headers["content-length"] == str(len(payload))
    assert server.bodies[0] == payload
    assert dict(req.url.params)["name"] == "rows.jsonl"


def _uploaded_table(server: Server) -> pa.Table:
    req = server.requests[-1]
    assert req.headers["content-type"] == "application/vnd.apache.parquet"
    return pq.read_table(pa.BufferReader(server.bodies[-1]))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: pd.DataFrame(ROWS), id="pandas"),
        pytest.param(lambda: pd.DataFrame(ROWS, index=[10, 20]), id="pandas-index"),
        pytest.param(lambda: pl.DataFrame(ROWS), id="polars"),
        pytest.param(lambda: pl.DataFrame(ROWS).lazy(), id="polars-lazy"),
        pytest.param(lambda: pa.Table.from_pylist(ROWS), id="arrow-table"),
        pytest.param(lambda: pa.RecordBatch.from_pylist(ROWS), id="arrow-batch"),
    ],
)
def test_in_memory_data_goes_as_parquet(run: Runner, server: Server, make, tmp_path,
                                        monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    run(lambda c: c.datasets.upload(make(), name="rows"))
    table = _uploaded_table(server)
    assert table.to_pylist() == ROWS  # no pandas index column either
    assert dict(server.requests[0].url.params) == {"name": "rows", "on_error": "skip"}
    assert list(tmp_path.iterdir()) == []  # the temp file is gone


@pytest.mark.parametrize("container", [list, tuple])
def test_rows_go_as_json_lines_exactly_as_given(run: Runner, server: Server, tmp_path,
                                                monkeypatch, container):
    # Keys missing from the first row, a column mixing str and list, nested chat messages:
    # Arrow would type columns from the first row; JSON lines keep every row as it is.
    rows = [{"question": "q1", "answer": "a"},
            {"question": "q2", "answer": ["b", "c"], "id": 7},
            {"messages": [{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "yo"}]}]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    run(lambda c: c.datasets.upload(container(rows), name="chat"))
    assert server.requests[0].headers["content-type"] == "application/x-ndjson"
    assert dict(server.requests[0].url.params) == {"name": "chat", "on_error": "skip"}
    assert [json.loads(line) for line in server.bodies[0].decode().splitlines()] == rows
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("source", "error", "words"),
    [
        ([], ValueError, "empty"),
        ([1, 2], TypeError, "one dict per row"),
        (42, TypeError, "got int"),
        ("does/not/exist.jsonl", FileNotFoundError, "no such file"),
    ],
)
def test_bad_sources_fail_before_any_request(run: Runner, server: Server, source, error, words):
    with pytest.raises(error, match=words):
        run(lambda c: c.datasets.upload(source))
    assert server.requests == []


def test_uploading_a_file_or_rows_never_imports_pandas_or_polars(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n')
    code = f"""
import sys, httpx
from slick_client import Client
body = {json.dumps(dataset_json())}
with Client("http://x", transport=httpx.MockTransport(
        lambda r: (r.read(), httpx.Response(201, json=body))[1])) as c:
    c.datasets.upload({str(path)!r})
    c.datasets.upload([{{"question": "q", "answer": "a"}}])
bad = [m for m in ("pandas", "polars", "torch", "duckdb", "fastapi") if m in sys.modules]
assert not bad, bad
"""
    subprocess.run([sys.executable, "-c", code], check=True)
