"""Uploads that used to get past the door and hurt later (issue 16): gzip bombs, values nested
too deep, duplicate and too many columns, one bad line, long names, server paths in messages.
Each is rejected (or made a row error) at upload, naming the row and field."""

from __future__ import annotations

import gzip
import io
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_helpers import (
    QUESTIONS,
    assert_error,
    jsonl,
    start_probe,
    upload,
    wait_status,
)

ROWS = QUESTIONS[:6]
LINE = b'{"question":"q?","answer":"a"}\n'


def _post(client, body: bytes, content_type: str, **params):
    return client.post("/v1/datasets", params=params, content=body,
                       headers={"Content-Type": content_type})


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def assert_all_routes_serve(client, probe_id: str) -> None:
    """What used to answer 500 on an accepted upload: every result route."""
    for fmt in ("jsonl", "json", "csv", "parquet"):
        response = client.get(f"/v1/probes/{probe_id}/curated", params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text)
    for route in ("report", "report.json", "rows"):
        response = client.get(f"/v1/probes/{probe_id}/{route}")
        assert response.status_code == 200, (route, response.text)


def test_double_gzip_bomb_is_413_at_the_door(client):
    # The reproduction: 351 bytes that were stored as 882,352 rows.
    bomb = gzip.compress(gzip.compress(LINE * 882_352))
    assert len(bomb) < 1000
    for response in (
        client.post("/v1/datasets", files={"file": ("d.jsonl.gz", bomb)}),
        client.post("/v1/datasets", content=bomb, headers={
            "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}),
    ):
        assert_error(response, 413, "payload_too_large", param="file",
                     message="after decompression", client=client)
    assert list(client.app.state.services.store.paths.staging.iterdir()) == []


def test_nested_gzip_within_the_limit_is_stored_decoded(client):
    body = jsonl(ROWS[:4])
    plain = _post(client, body, "application/x-ndjson", name="nest.jsonl").json()
    twice = client.post("/v1/datasets", files={
        "file": ("nest.jsonl", gzip.compress(gzip.compress(body)))})
    assert twice.status_code == 200, twice.text  # the same content: the same dataset
    assert (twice.json()["id"], twice.json()["rows"]) == (plain["id"], 4)
    stored = client.app.state.services.store.paths.upload(plain["id"]).read_bytes()
    assert stored == body


def test_value_nested_too_deep_is_that_rows_error_and_results_serve(client):
    rows = [dict(r) for r in ROWS]
    rows[2]["extra"] = nested(200)  # pyarrow cannot write this back (it fails near 50)
    rows[3]["extra"] = nested(3)
    response = _post(client, jsonl(rows), "application/x-ndjson", name="deep.jsonl")
    assert response.status_code == 201, response.text
    data = response.json()
    assert (data["rows"], data["valid_rows"]) == (6, 5)
    assert data["errors"] == [{"row": 2, "field": "extra",
                               "reason": "nested more than 32 levels deep (the limit)"}]
    probe = start_probe(client, data["id"], k_shot=1, n_prompts=1)
    wait_status(client, probe["id"], "succeeded")
    assert_all_routes_serve(client, probe["id"])


def test_over_deep_json_line_is_a_row_error_not_a_file_rejection(client):
    body = jsonl(ROWS[:4]) + b"[" * 50_000 + b"\n"
    response = _post(client, body, "application/x-ndjson", name="deepline.jsonl")
    assert response.status_code == 201, response.text
    assert response.json()["errors"] == [
        {"row": 4, "field": "<line>", "reason": "invalid JSON: nested too deeply to parse"}]


def test_parquet_column_nested_too_deep_is_400_naming_it(client):
    table = pa.table({"question": ["q?"], "answer": ["a"], "deep": pa.array([nested(40)])})
    response = _post(client, parquet(table), "application/vnd.apache.parquet")
    assert_error(response, 400, "invalid_dataset", param="file",
                 message="column 'deep' is nested 40 levels deep", client=client)


def test_duplicate_columns_are_400_in_csv_and_parquet_alike(client):
    csv_body = b"question,answer,n,n\n" + b"".join(f"Q{i}?,A{i},1,2\n".encode()
                                                  for i in range(6))
    table = pa.Table.from_arrays([pa.array([f"Q{i}?" for i in range(6)]),
                                  pa.array([f"A{i}" for i in range(6)]),
                                  pa.array([1] * 6), pa.array([2] * 6)],
                                 names=["question", "answer", "n", "n"])
    for body, media in ((csv_body, "text/csv"),
                        (parquet(table), "application/vnd.apache.parquet")):
        error = assert_error(_post(client, body, media), 400, "invalid_dataset", param="file",
                             message="column 'n' appears 2 times; column names must be unique",
                             client=client)
        assert error["errors"][0]["field"] == "n"


def test_too_many_columns_is_400(client):
    header = ",".join(["question", "answer"] + [f"c{i}" for i in range(20_000)])
    body = (header + "\n" + "Q?,A" + "," * 20_000 + "\n").encode()
    assert len(body) < 200_000
    assert_error(_post(client, body, "text/csv"), 400, "invalid_dataset", param="file",
                 message="20002 columns, more than the limit of 1000", client=client)
    rows = [{"question": "Q?", "answer": "A", **{f"c{i}": 1 for i in range(1500)}}]
    assert_error(_post(client, jsonl(rows), "application/x-ndjson"), 400, "invalid_dataset",
                 message="1502 distinct columns, more than the limit of 1000")


def test_empty_column_name_is_400(client):
    body = b"question,,answer\n" + b"".join(f"Q{i}?,x,A{i}\n".encode() for i in range(4))
    assert_error(_post(client, body, "text/csv"), 400, "invalid_dataset", param="file",
                 message="a column has an empty name", client=client)


def test_long_multipart_name_keeps_its_suffix(client):
    name = "x" * 400 + ".jsonl.gz"
    response = client.post("/v1/datasets", files={"file": (name, gzip.compress(jsonl(ROWS)))})
    assert response.status_code in (200, 201), response.text
    stored = response.json()["name"]
    assert len(stored) == 255 and stored.endswith("x.jsonl.gz")
    assert response.json()["format"] == "jsonl"


@pytest.mark.parametrize("body,content_type,message", [
    ('[{"question": "Caf\xe9?"}]'.encode("latin-1"), "application/json",
     "the uploaded file: not valid UTF-8"),
    (b"[" * 100_000, "application/json", "the uploaded file: invalid JSON: nested too deeply"),
    (b"PAR1garbage", "application/vnd.apache.parquet", "the uploaded file: unreadable Parquet"),
])
def test_errors_name_the_upload_never_a_server_path(client, body, content_type, message):
    error = assert_error(_post(client, body, content_type), 400, "invalid_dataset",
                         message=message, client=client)
    root = str(client.app.state.services.store.paths.root.resolve())
    for text in (error["message"], *(e["reason"] for e in error["errors"] or [])):
        assert root not in text and "/tmp" not in text and "uploads/" not in text, text


def test_job_errors_carry_no_server_paths(client):
    data = upload(client, ROWS, name="vanish.jsonl", answer_column="answer")
    paths = client.app.state.services.store.paths
    shutil.rmtree(paths.parsed(data["id"]))  # the parsed rows and the file are gone (a disk
    paths.upload(data["id"]).unlink()       # fault): the job falls back to the file and fails
    probe = start_probe(client, data["id"], k_shot=1)  # validated from the record alone
    failed = wait_status(client, probe["id"], "failed")
    assert "FileNotFoundError" in failed["error"]
    assert str(paths.root.resolve()) not in failed["error"]
    assert "<data dir>/uploads/" in failed["error"]


def test_bad_csv_cell_and_short_row_with_skip_are_row_errors(client):
    body = ("question,answer,note\n" + "".join(f"Q{i}?,A{i},ok\n" for i in range(4))
            + "Q4?,A4,caf\xe9\n" + "Q5?,A5\n").encode("latin-1")
    response = _post(client, body, "text/csv", name="cells.csv")
    assert response.status_code == 201, response.text
    assert response.json()["errors"] == [
        {"row": 4, "field": "note", "reason": "not valid UTF-8"},
        {"row": 5, "field": "<line>", "reason": "2 field(s) where the header has 3"}]
    assert response.json()["valid_rows"] == 4


def test_json_keys_and_values_that_arrow_cannot_hold_are_row_errors(client):
    body = jsonl(ROWS[:4]) + b'{"question": "\\ud800?", "answer": "a"}\n' + json.dumps(
        {"question": "q", "answer": "a", "": 1}).encode() + b"\n"
    response = _post(client, body, "application/x-ndjson", name="odd.jsonl")
    assert response.status_code == 201, response.text
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [
        (4, "question"), (5, "<line>")]
