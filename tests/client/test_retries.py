"""Retries: only idempotent calls, only after connection errors or 502/503/504, with backoff
and the server's Retry-After. Attempts are counted at the transport."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from client_support import Runner, Server, dataset_json, error_json, probe_json
from slick_client import (
    BadRequestError,
    RateLimitError,
    ServerError,
    TransportError,
    _retry,
)


def unavailable(status: int = 503, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=error_json(status, "unavailable", "busy"), headers=headers)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_retried_on_gateway_errors_then_succeeds(run: Runner, server: Server, sleeps,
                                                     status):
    server.route("GET", "/v1/probes/p1", unavailable(status), unavailable(status),
                 httpx.Response(200, json=probe_json()))
    job = run(lambda c: c.probes.get("p1"), max_retries=2)
    assert job.id == "p1"
    assert len(server.requests) == 3
    assert len(sleeps) == 2


def test_get_gives_up_after_max_retries(run: Runner, server: Server, sleeps):
    server.route("GET", "/v1/datasets", unavailable())
    with pytest.raises(ServerError) as info:
        run(lambda c: c.datasets.list(), max_retries=3)
    assert info.value.status_code == 503
    assert len(server.requests) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 429, 500])
def test_other_statuses_are_not_retried(run: Runner, server: Server, status):
    server.route("GET", "/v1/probes/p1", httpx.Response(status, json=error_json(status, "x",
                                                                                "no")))
    with pytest.raises(Exception) as info:
        run(lambda c: c.probes.get("p1"), max_retries=5)
    assert info.value.status_code == status
    assert len(server.requests) == 1
    if status == 429:
        assert isinstance(info.value, RateLimitError)


def test_connection_errors_retried_for_get(run: Runner, server: Server, sleeps):
    server.route("GET", "/healthz", refuse, refuse, httpx.Response(200, json={"ok": True}))
    assert run(lambda c: c.health(), max_retries=2) == {"ok": True}
    assert len(server.requests) == 3


def test_connection_errors_exhaust_into_transport_error(run: Runner, server: Server):
    server.route("GET", "/healthz", refuse)
    with pytest.raises(TransportError):
        run(lambda c: c.health(), max_retries=2)
    assert len(server.requests) == 3


@pytest.mark.parametrize("failure", [refuse, unavailable(503), unavailable(502)])
def test_probe_create_is_never_retried(run: Runner, server: Server, sleeps, failure):
    server.route("POST", "/v1/probes", failure, httpx.Response(202, json=probe_json("queued")))
    with pytest.raises((TransportError, ServerError)):
        run(lambda c: c.probes.create("ds1"), max_retries=5)
    assert len(server.calls("POST", "/v1/probes")) == 1
    assert sleeps == []


def test_cancel_is_not_retried(run: Runner, server: Server):
    server.route("POST", "/v1/probes/p1/cancel", unavailable(503))
    with pytest.raises(ServerError):
        run(lambda c: c.probes.cancel("p1"), max_retries=5)
    assert len(server.requests) == 1


def test_upload_is_retried_with_the_whole_body_each_time(run: Runner, server: Server, tmp_path):
    data = b"".join(b'{"question": "q%d", "answer": "a"}\n' % i for i in range(50_000))
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    server.route("POST", "/v1/datasets", refuse, unavailable(503),
                 httpx.Response(201, json=dataset_json()))
    ds = run(lambda c: c.datasets.upload(path), max_retries=2)
    assert ds.id == "ds1"
    assert len(server.requests) == 3
    assert server.bodies[1] == data and server.bodies[2] == data


def test_upload_of_unseekable_stream_is_not_retried(server: Server):
    class Pipe:
        def __init__(self) -> None:
            self.chunks = [b'{"question": "q", "answer": "a"}\n']

        def read(self, n: int = -1) -> bytes:
            return self.chunks.pop() if self.chunks else b""

        def seekable(self) -> bool:
            return False

    server.route("POST", "/v1/datasets", unavailable(503),
                 httpx.Response(201, json=dataset_json()))
    with server.client(max_retries=3) as c, pytest.raises(ServerError):
        c.datasets.upload(Pipe(), format="jsonl")
    assert len(server.requests) == 1


def test_bad_upload_is_not_retried(run: Runner, server: Server, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    server.route("POST", "/v1/datasets",
                 httpx.Response(400, json=error_json(400, "invalid_dataset", "bad rows")))
    with pytest.raises(BadRequestError):
        run(lambda c: c.datasets.upload(path), max_retries=3)
    assert len(server.requests) == 1


def test_retry_after_seconds_is_honoured(run: Runner, server: Server, sleeps):
    server.route("GET", "/v1/probes/p1", unavailable(503, **{"Retry-After": "3"}),
                 httpx.Response(200, json=probe_json()))
    run(lambda c: c.probes.get("p1"))
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured(run: Runner, server: Server, sleeps):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.route("GET", "/v1/probes/p1", unavailable(503, **{"Retry-After": when}),
                 httpx.Response(200, json=probe_json()))
    run(lambda c: c.probes.get("p1"))
    assert len(sleeps) == 1 and 17 <= sleeps[0] <= 20


def test_retry_after_is_capped_and_garbage_ignored():
    def response(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    assert _retry.retry_after(response("86400")) == _retry.MAX_RETRY_AFTER_S
    assert _retry.retry_after(response("-5")) == 0.0
    assert _retry.retry_after(response("soon")) is None
    assert _retry.retry_after(httpx.Response(503)) is None


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    for attempt in range(8):
        ceiling = min(_retry.MAX_DELAY_S, _retry.INITIAL_DELAY_S * 2**attempt)
        delays = [_retry.backoff_delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_backoff_used_without_retry_after(server: Server, sleeps):
    server.route("GET", "/v1/probes/p1", unavailable(), unavailable(), unavailable(),
                 httpx.Response(200, json=probe_json()))
    with server.client(max_retries=3) as c:
        c.probes.get("p1")
    assert len(sleeps) == 3
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0 and 1.0 <= sleeps[2] <= 2.0


def test_max_retries_zero_means_one_attempt(run: Runner, server: Server):
    server.route("GET", "/v1/probes/p1", unavailable())
    with pytest.raises(ServerError):
        run(lambda c: c.probes.get("p1"), max_retries=0)
    assert len(server.requests) == 1
