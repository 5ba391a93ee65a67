"""Every error status becomes its typed exception, with the error body's fields and the response."""

from __future__ import annotations

import httpx
import pytest
import slick_client as sc
from client_support import Server, error_json

CASES = [
    (400, "invalid_dataset", sc.BadRequestError),
    (401, "unauthorized", sc.AuthenticationError),
    (403, "forbidden", sc.AuthenticationError),
    (404, "not_found", sc.NotFoundError),
    (405, "method_not_allowed", sc.APIError),
    (409, "conflict", sc.ConflictError),
    (413, "payload_too_large", sc.PayloadTooLargeError),
    (415, "unsupported_media_type", sc.UnsupportedMediaTypeError),
    (422, "validation_error", sc.BadRequestError),
    (429, "rate_limited", sc.RateLimitError),
    (500, "internal_error", sc.ServerError),
    (503, "unavailable", sc.ServerError),
]


@pytest.mark.parametrize(("status", "type_", "cls"), CASES)
def test_status_maps_to_exception_with_fields(server: Server, status, type_, cls):
    rows = [{"row": 2, "field": "answer", "reason": "missing"}] if status == 400 else None
    body = error_json(status, type_, f"went wrong {status}", param="limit", errors=rows)
    server.route("GET", "/v1/datasets/ds9", httpx.Response(status, json=body))
    with server.client(max_retries=0) as c, pytest.raises(cls) as info:
        c.datasets.get("ds9")
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, sc.APIError) and isinstance(exc, sc.SlickError)
    assert exc.status_code == status
    assert exc.response.status_code == status
    assert exc.type == type_
    assert exc.message == f"went wrong {status}"
    assert exc.param == "limit"
    assert exc.body == body
    assert f"{status} {type_}: went wrong {status}" in str(exc)
    if status == 400:
        assert [(e.row, e.field, e.reason) for e in exc.errors] == [(2, "answer", "missing")]
        assert "row 2 answer: missing" in str(exc)
    else:
        assert exc.errors == []


def test_non_json_error_body_is_still_typed(server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(502, text="<html>Bad Gateway</html>"))
    with server.client(max_retries=0) as c, pytest.raises(sc.ServerError) as info:
        c.probes.get("p1")
    assert info.value.status_code == 502
    assert info.value.type == "server_error"
    assert "Bad Gateway" in info.value.message
    assert info.value.body == "<html>Bad Gateway</html>"


def test_fastapi_default_detail_body(server: Server):
    detail = {"detail": [{"loc": ["query", "limit"], "msg": "must be >= 1", "type": "x"}]}
    server.route("GET", "/v1/probes", httpx.Response(422, json=detail))
    with server.client() as c, pytest.raises(sc.BadRequestError) as info:
        c.probes.list(limit=0)
    assert info.value.param == "limit"
    assert info.value.message == "must be >= 1"


def test_empty_error_body_uses_reason_phrase(server: Server):
    server.route("POST", "/v1/probes/p1/cancel", httpx.Response(409))
    with server.client() as c, pytest.raises(sc.ConflictError) as info:
        c.probes.cancel("p1")
    assert info.value.message == "Conflict"
    assert info.value.type == "conflict"


def test_unexpected_success_body_is_response_validation_error(server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(200, json={"id": "p1"}))
    with server.client() as c, pytest.raises(sc.ResponseValidationError) as info:
        c.probes.get("p1")
    assert info.value.status_code == 200
    assert "ProbePublic" in info.value.message


def test_connection_error_is_transport_error_keeping_the_cause():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with sc.Client("http://x", transport=httpx.MockTransport(refuse),
                             max_retries=0) as c, pytest.raises(sc.TransportError) as info:
        c.health()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.request is not None and info.value.request.url.path == "/healthz"
    assert "ConnectError on GET http://x/healthz" in str(info.value)


def test_timeout_is_transport_error():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with sc.Client("http://x", transport=httpx.MockTransport(slow),
                             max_retries=0) as c, pytest.raises(sc.TransportError) as info:
        c.datasets.list()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_exception_tree():
    for cls in (sc.APIError, sc.TransportError, sc.InvalidParamsError, sc.JobFailedError,
                sc.WaitTimeoutError, sc.FinetuneFailedError):
        assert issubclass(cls, sc.SlickError)
    for cls in (sc.BadRequestError, sc.AuthenticationError, sc.NotFoundError,
                sc.ConflictError, sc.PayloadTooLargeError, sc.UnsupportedMediaTypeError,
                sc.RateLimitError, sc.ServerError, sc.ResponseValidationError):
        assert issubclass(cls, sc.APIError)
    assert issubclass(sc.InvalidParamsError, ValueError)
    assert issubclass(sc.WaitTimeoutError, TimeoutError)
