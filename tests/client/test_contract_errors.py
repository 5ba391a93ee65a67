"""Contract tests for failures: every error the real app can answer with arrives as its typed
exception carrying the server's type, message and parameter, sync and async."""

from __future__ import annotations

import gzip
import socket

import pytest
from live_support import LiveRunner, rows, seq, write_jsonl
from slick_client import (
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    InvalidParamsError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    TransportError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from slick_client._calls import Call
from slick_client._uploads import UploadBody

FAST = {"n_prompts": 2, "k_shot": 1, "n_samples": 2}


@pytest.fixture(autouse=True)
def sleeps():
    """Real sleeps here (overrides the conftest fixture)."""


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda c: c.datasets.get("ds_missing"), "dataset_id"),
        (lambda c: c.probes.get("pr_missing"), "probe_id"),
        (lambda c: c.probes.cancel("pr_missing"), "probe_id"),
        (lambda c: c.probes.result("pr_missing"), "probe_id"),
        (lambda c: c.probes.wait("pr_missing"), "probe_id"),
        (lambda c: c.probes.create("ds_missing"), "dataset_id"),
    ],
    ids=["datasets.get", "probes.get", "cancel", "result", "wait", "create"],
)
def test_not_found(lrun: LiveRunner, call, param):
    with pytest.raises(NotFoundError) as info:
        lrun(call)
    assert info.value.status_code == 404 and info.value.type == "not_found"
    assert info.value.param == param and "missing" in info.value.message


def test_events_of_unknown_probe(lrun: LiveRunner):
    def events(c):
        stream = c.probes.events("pr_missing")
        if hasattr(stream, "__aiter__"):
            async def first():
                async for item in stream:
                    return item
            return first()
        return next(iter(stream))

    with pytest.raises(NotFoundError):
        lrun(events)


def test_bad_rows_with_on_error_fail(lrun: LiveRunner):
    items = [*rows(3), {"id": "x", "question": "no answer"}, {"id": "y", "answer": "no q"}]
    with pytest.raises(BadRequestError) as info:
        lrun(lambda c: c.datasets.upload(items, name="bad.jsonl", on_error="fail"))
    exc = info.value
    assert exc.status_code == 400 and exc.type == "invalid_dataset"
    assert [e.row for e in exc.errors] == [3, 4]
    assert all(e.field and e.reason for e in exc.errors)
    assert "row 3" in str(exc)


def test_unreadable_file(lrun: LiveRunner, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{this is not json")
    with pytest.raises(BadRequestError) as info:
        lrun(lambda c: c.datasets.upload(path))
    assert info.value.type == "invalid_dataset" and info.value.param == "file"


def test_unknown_file_format(lrun: LiveRunner, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("question,answer\n")
    with pytest.raises(BadRequestError) as info:
        lrun(lambda c: c.datasets.upload(path))
    assert info.value.param == "format"


def test_query_validation_is_bad_request(lrun: LiveRunner):
    with pytest.raises(BadRequestError) as info:
        lrun(lambda c: c.datasets.list(limit=0))
    assert info.value.status_code == 422 and info.value.type == "validation_error"
    assert info.value.param == "limit"


@pytest.mark.parametrize(
    ("options", "param"),
    [({"engine": "vllm"}, "engine"), ({"model": "gpt-9"}, "model"), ({"k_shot": 30}, "k_shot")],
)
def test_probe_rejected_by_the_server(lrun: LiveRunner, options, param):
    create = seq(lambda c, _: c.datasets.upload(rows(), name="reject.jsonl"),
                 lambda c, ds: c.probes.create(ds.id, **{**FAST, **options}))
    with pytest.raises(BadRequestError) as info:
        lrun(create)
    assert info.value.status_code == 400 and info.value.param == param


def test_invalid_params_never_reach_the_server(lrun: LiveRunner):
    before = lrun(lambda c: c.probes.list()).count
    with pytest.raises(InvalidParamsError) as info:
        lrun(lambda c: c.probes.create("ds_x", n_samples=0))
    assert info.value.param == "n_samples"
    assert lrun(lambda c: c.probes.list()).count == before


def test_unsupported_media_type(lrun: LiveRunner, tmp_path):
    # upload() only sends types the server reads; a raw call shows the 415 mapping end to end
    path = tmp_path / "x.xml"
    path.write_text("<rows/>")
    body = UploadBody("application/xml", None, "x.xml", path=path, size=7)
    with pytest.raises(UnsupportedMediaTypeError) as info:
        lrun(lambda c: c._run(Call("POST", "/v1/datasets", body=body, retry=False)))
    assert info.value.status_code == 415 and "application/xml" in info.value.message


def test_result_file_missing_is_server_error(live, lrun: LiveRunner):
    job = lrun(seq(lambda c, _: c.datasets.upload(rows(4), name="gone.jsonl"),
                   lambda c, ds: c.probes.create(ds.id, **FAST),
                   lambda c, job: c.probes.wait(job.id)))
    live.app.state.services.store.paths.result(job.id).unlink()
    with pytest.raises(ServerError) as info:
        lrun(lambda c: c.probes.result(job.id), max_retries=0)
    assert info.value.status_code == 500 and "missing" in info.value.message


def test_connection_refused_is_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", max_retries=1, timeout=5) as c, \
            pytest.raises(TransportError) as info:
        c.datasets.list()
    assert "ConnectError" in str(info.value)


# -- the keyed app: auth, size limits, slow jobs -----------------------------------------------

def test_missing_or_wrong_key(krun: LiveRunner):
    with pytest.raises(AuthenticationError) as info:
        krun(lambda c: c.datasets.list(), api_key="")
    assert info.value.status_code == 401 and info.value.type == "unauthorized"
    assert "missing API key" in info.value.message
    with pytest.raises(AuthenticationError, match="invalid API key"):
        krun(lambda c: c.probes.list(), api_key="wrong")
    assert krun(lambda c: c.datasets.list(), api_key="key-2").count >= 0
    assert krun(lambda c: c.health(), api_key="") == {"status": "ok"}  # no key needed


def test_payload_too_large(krun: LiveRunner, tmp_path):
    big = write_jsonl(tmp_path / "big.jsonl", rows(1500))
    assert big.stat().st_size > 50_000
    with pytest.raises(PayloadTooLargeError) as info:
        krun(lambda c: c.datasets.upload(big))
    assert info.value.status_code == 413 and "limit" in info.value.message


def test_payload_too_large_after_decompression(krun: LiveRunner, tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    bomb.write_bytes(gzip.compress(b'{"question": "q", "answer": "a"}\n' * 10_000))
    assert bomb.stat().st_size < 50_000
    with pytest.raises(PayloadTooLargeError, match="decompression"):
        krun(lambda c: c.datasets.upload(bomb))


def test_slow_job_conflict_timeout_and_cancel(krun: LiveRunner):
    job = krun(seq(lambda c, _: c.datasets.upload(rows(200), name="slow.jsonl"),
                   lambda c, ds: c.probes.create(ds.id, **FAST)))
    with pytest.raises(ConflictError) as info:
        krun(lambda c: c.probes.result(job.id))
    assert info.value.status_code == 409 and info.value.param == "probe_id"

    with pytest.raises(WaitTimeoutError) as timeout:
        krun(lambda c: c.probes.wait(job.id, timeout=0.3))
    assert krun(lambda c: c.probes.get(job.id)).status in ("queued", "running")
    assert timeout.value.job is None or timeout.value.job.id == job.id

    krun(lambda c: c.probes.cancel(job.id))
    with pytest.raises(JobFailedError) as failed:
        krun(lambda c: c.probes.wait(job.id))
    assert failed.value.status == "cancelled" and failed.value.job.id == job.id
    assert failed.value.job.progress.done < 200

    with pytest.raises(ConflictError, match="already finished"):
        krun(lambda c: c.probes.cancel(job.id))
    with pytest.raises(ConflictError, match="cancelled"):
        krun(lambda c: c.probes.result(job.id))
