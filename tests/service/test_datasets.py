"""POST/GET /v1/datasets: every upload shape, idempotency, and each way a file can be bad."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_helpers import QUESTIONS, assert_error, jsonl, upload

ROWS = QUESTIONS[:6]


def _post(client, body: bytes, content_type: str | None, **params):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post("/v1/datasets", params=params, content=body, headers=headers)


def test_multipart_upload_then_same_again_is_idempotent(client):
    body = jsonl(ROWS)
    first = client.post("/v1/datasets", files={"file": ("multi.jsonl", body)})
    assert first.status_code == 201, first.text
    data = first.json()
    assert (data["rows"], data["valid_rows"], data["format"], data["kind"]) == (6, 6, "jsonl", "qa")
    assert data["name"] == "multi.jsonl"
    assert data["groups"] == {"P17": 3, "P36": 3}
    assert data["columns"] == ["question", "answers", "relation"]
    assert data["errors"] == []
    assert data["size_bytes"] == len(body)
    again = client.post("/v1/datasets", files={"file": ("multi.jsonl", body)})
    assert again.status_code == 200
    assert again.json()["id"] == data["id"]
    assert client.get(f"/v1/datasets/{data['id']}").json() == data


@pytest.mark.parametrize("content_type,fmt,body", [
    ("application/x-ndjson", "jsonl", jsonl(ROWS)),
    ("application/jsonl", "jsonl", jsonl(ROWS[:5])),
    ("application/json; charset=utf-8", "json", json.dumps(ROWS).encode()),
    ("text/csv", "csv",
     b"question,answer\n" + b"".join(f"Q{i}?,A{i}\n".encode() for i in range(6))),
])
def test_raw_bodies_by_content_type(client, content_type, fmt, body):
    response = _post(client, body, content_type, name="raw")
    assert response.status_code == 201, response.text
    assert response.json()["format"] == fmt
    assert response.json()["valid_rows"] == response.json()["rows"] > 0


def test_parquet_body_and_octet_stream_with_format(client):
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS[:4]), buffer)
    parquet = buffer.getvalue()
    response = _post(client, parquet, "application/vnd.apache.parquet")
    assert response.status_code == 201, response.text
    assert (response.json()["format"], response.json()["rows"]) == ("parquet", 4)
    other = _post(client, parquet, "application/octet-stream", format="parquet", name="p2")
    assert other.status_code == 201 and other.json()["rows"] == 4


def test_octet_stream_without_format_is_400(client):
    response = _post(client, jsonl(ROWS), "application/octet-stream")
    assert_error(response, 400, "invalid_request", param="format", message="pass format=",
                 client=client)


def test_gzip_by_content_encoding_and_by_magic_bytes(client):
    body = jsonl(ROWS[:3])
    plain = _post(client, body, "application/x-ndjson", name="gz.jsonl").json()
    encoded = client.post("/v1/datasets", params={"name": "gz.jsonl"}, content=gzip.compress(body),
                          headers={"Content-Type": "application/x-ndjson",
                                   "Content-Encoding": "gzip"})
    assert encoded.status_code == 200, encoded.text  # decompressed content: the same dataset
    assert encoded.json()["id"] == plain["id"]
    magic = client.post("/v1/datasets", files={"file": ("x.jsonl.gz", gzip.compress(body))})
    assert magic.status_code == 201
    assert (magic.json()["sha256"], magic.json()["rows"]) == (plain["sha256"], 3)


def test_corrupt_gzip_is_400(client):
    broken = gzip.compress(jsonl(ROWS))[:-12]
    response = client.post("/v1/datasets", content=broken,
                           headers={"Content-Type": "application/x-ndjson",
                                    "Content-Encoding": "gzip"})
    assert_error(response, 400, "invalid_request", message="corrupt gzip", client=client)


def test_entityquestions_group_from_file_name(client):
    rows = [{"question": q["question"], "answers": q["answers"]} for q in ROWS]
    data = _post(client, json.dumps(rows).encode(), "application/json", name="P36.test.json")
    assert data.status_code == 201
    assert data.json()["groups"] == {"P36": 6}


def test_column_mapping_and_chat_rows(client):
    rows = [{"q": f"Q{i}?", "gold": f"A{i}", "key": i} for i in range(4)]
    data = upload(client, rows, question_column="q", answer_column="gold", id_column="key")
    assert data["valid_rows"] == 4
    chat = [{"messages": [{"role": "user", "content": f"Q{i}?"},
                          {"role": "assistant", "content": f"A{i}"}]} for i in range(3)]
    assert upload(client, chat, name="chat.jsonl")["kind"] == "chat"


def test_bad_rows_are_listed_with_skip(client):
    body = (jsonl(ROWS[:3]) + b'{"question": "broken\n'
            + jsonl([{"question": 5, "answers": ["x"]}, {"question": "Q?"}]))
    response = _post(client, body, "application/x-ndjson", name="bad.jsonl")
    assert response.status_code == 201, response.text
    data = response.json()
    assert (data["rows"], data["valid_rows"]) == (6, 3)
    errors = {e["row"]: e for e in data["errors"]}
    assert errors[3]["field"] == "<line>" and "invalid JSON" in errors[3]["reason"]
    assert errors[4]["field"] == "question" and "wrong type" in errors[4]["reason"]
    assert "missing" in errors[5]["reason"]


def test_bad_rows_with_on_error_fail_store_nothing(client):
    body = jsonl(ROWS[:2]) + b"not json\n"
    response = _post(client, body, "application/x-ndjson", name="fail.jsonl", on_error="fail")
    error = assert_error(response, 400, "invalid_dataset", param="file", message="1 bad row",
                         client=client)
    assert error["errors"] == [{"row": 2, "field": "<line>",
                                "reason": error["errors"][0]["reason"]}]
    listed = client.get("/v1/datasets", params={"limit": 1000}).json()["data"]
    assert "fail.jsonl" not in [d["name"] for d in listed]


@pytest.mark.parametrize("body,content_type,param,message", [
    (b"", "application/x-ndjson", "file", "file is empty"),
    (jsonl([{"prompt": "x", "answer": "y"}]), "application/x-ndjson", "question_column",
     "no 'question' column"),
    (jsonl([{"question": "x"}]), "application/x-ndjson", "answer_column",
     "no 'answer' or 'answers' column"),
    ("question,answer\nCaf\xe9?,yes\n".encode("latin-1"), "application/json", "file",
     "not valid UTF-8"),
    (b'{"question": "a", "answer": "b"}\n{"question": "c", "answer": "d"}\n', "application/json",
     "file", "invalid JSON"),
    (b"PAR1garbage", "application/vnd.apache.parquet", "file", "unreadable Parquet"),
    (b'{"not": "a list"}', "application/json", "file", "expected a JSON list"),
])
def test_unreadable_files_are_400(client, body, content_type, param, message):
    response = _post(client, body, content_type)
    assert_error(response, 400, "invalid_dataset", param=param, message=message, client=client)


def test_non_utf8_lines_are_row_errors(client):
    body = jsonl(ROWS[:2]) + '{"question": "Caf\xe9?", "answer": "x"}\n'.encode("latin-1")
    data = _post(client, body, "application/x-ndjson", name="latin.jsonl").json()
    assert data["errors"] == [{"row": 2, "field": "<line>", "reason": "not valid UTF-8"}]


def test_oversize_upload_is_413(client):
    big = jsonl([{"question": "x" * 1000, "answer": "y"}] * 300)  # > max_upload_bytes=200_000
    response = _post(client, big, "application/x-ndjson")
    assert_error(response, 413, "payload_too_large", message="SLICK_MAX_UPLOAD_BYTES",
                 client=client)

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(big), 10_000):
            yield big[i:i + 10_000]

    streamed = client.post("/v1/datasets", content=chunks(),
                           headers={"Content-Type": "application/x-ndjson"})
    assert_error(streamed, 413, "payload_too_large", client=client)
    bomb = gzip.compress(b'{"question": "q", "answer": "a"}\n' * 20_000)
    assert len(bomb) < 200_000
    response = client.post("/v1/datasets", files={"file": ("bomb.jsonl.gz", bomb)})
    assert_error(response, 413, "payload_too_large", message="after decompression", client=client)
    assert list((client.app.state.services.store.paths.staging).iterdir()) == []


def test_too_many_rows_and_too_long_text(client):
    response = _post(client, jsonl(ROWS), "application/x-ndjson")
    assert response.status_code in (200, 201)
    long = _post(client, jsonl([{"question": "q" * 30_000, "answer": "a"}, *ROWS[:1]]),
                 "application/x-ndjson", name="long.jsonl").json()
    assert "too long" in long["errors"][0]["reason"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_wrong_content_type_is_415(client, content_type):
    response = _post(client, jsonl(ROWS), content_type)
    assert_error(response, 415, "unsupported_media_type", message="unsupported Content-Type",
                 client=client)


def test_unsupported_content_encoding_is_415(client):
    response = client.post("/v1/datasets", content=jsonl(ROWS),
                           headers={"Content-Type": "application/x-ndjson",
                                    "Content-Encoding": "br"})
    assert_error(response, 415, "unsupported_media_type", message="Content-Encoding")


def test_multipart_without_file_field_or_broken(client):
    response = client.post("/v1/datasets", data={"other": "x"}, files={"nope": ("a.jsonl", b"{}")})
    assert_error(response, 400, "invalid_request", param="file", message="no 'file' field")
    truncated = client.post("/v1/datasets", content=b"--xyz\r\nContent-Disposition: form-data; "
                            b'name="file"; filename="a.jsonl"\r\n\r\n{"question"',
                            headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert_error(truncated, 400, "invalid_request", param="file", message="malformed multipart")
    no_boundary = client.post("/v1/datasets", content=b"x",
                              headers={"Content-Type": "multipart/form-data"})
    assert_error(no_boundary, 400, "invalid_request", message="boundary", client=client)


def test_file_names_never_become_paths(client):
    response = client.post("/v1/datasets",
                           files={"file": ("../../etc/evil\x07.jsonl", jsonl(ROWS[:2]))})
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["name"].startswith("evil") and "/" not in data["name"]
    raw = _post(client, jsonl(ROWS[2:4]), "application/x-ndjson", name="..\\x/evil\x01.jsonl")
    assert raw.json()["name"] == "evil.jsonl"
    uploads = client.app.state.services.store.paths.root / "uploads"
    assert (uploads / data["id"]).is_file()
    assert not list(uploads.glob("*evil*"))


def test_bad_query_params_are_422(client):
    response = _post(client, jsonl(ROWS), "application/x-ndjson", format="xml")
    assert_error(response, 422, "validation_error", param="format", client=client)
    response = _post(client, jsonl(ROWS), "application/x-ndjson", on_error="maybe")
    assert_error(response, 422, "validation_error", param="on_error")


def test_list_datasets_pages_and_unknown_id(client):
    for i in range(3):
        upload(client, ROWS[i:i + 2], name=f"page{i}.jsonl")
    everything = client.get("/v1/datasets", params={"limit": 1000}).json()
    assert everything["count"] == len(everything["data"]) >= 3
    page = client.get("/v1/datasets", params={"limit": 2, "offset": 1}).json()
    assert page["count"] == everything["count"]
    assert [d["id"] for d in page["data"]] == [d["id"] for d in everything["data"][1:3]]
    assert_error(client.get("/v1/datasets", params={"limit": 0}), 422, "validation_error",
                 param="limit")
    assert_error(client.get("/v1/datasets/ds_nope"), 404, "not_found", param="dataset_id",
                 message="no dataset 'ds_nope'", client=client)


def test_non_utf8_csv_cell_is_that_rows_error_and_header_is_400(client):
    body = "question,answer\nCaf\xe9?,oui\nQ?,A\n".encode("cp1252")
    cell = _post(client, body, "text/csv", name="cell.csv")
    assert cell.status_code == 201, cell.text
    assert (cell.json()["rows"], cell.json()["valid_rows"]) == (2, 1)
    assert cell.json()["errors"] == [{"row": 0, "field": "question", "reason": "not valid UTF-8"}]
    failed = _post(client, body, "text/csv", name="cell2.csv", on_error="fail")
    error = assert_error(failed, 400, "invalid_dataset", param="file",
                         message="row 0, field 'question': not valid UTF-8", client=client)
    assert error["errors"] == [{"row": 0, "field": "question", "reason": "not valid UTF-8"}]
    header = _post(client, "Fr\xe9ge,answer\nq?,a\n".encode("cp1252"), "text/csv")
    assert_error(header, 400, "invalid_dataset", param="file", message="unreadable CSV",
                 client=client)
