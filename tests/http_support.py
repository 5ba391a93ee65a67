"""What tests of the HTTP service share: waiting for a condition, JSONL bodies, uploads, the
one error shape, and our client on Starlette's TestClient. Imported by service_helpers,
finetune_helpers, the client's live tests and the Ray tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx


def wait_until(condition, what: str, timeout: float = 30.0, interval: float = 0.05):
    """The first truthy value of `condition()`; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(client, rows, name: str = "data.jsonl", **params) -> dict:
    """POST rows as a JSONL dataset; the created (or already stored) dataset."""
    response = client.post("/v1/datasets", params={"name": name, **params}, content=jsonl(rows),
                           headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def assert_error(response, code: int, type_: str, *, param: str | None = ...,
                 message: str | None = None, client=None) -> dict:
    """The one error shape, with this status/type (and param and message part, if given);
    with `client`, the service is still healthy afterwards."""
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"type", "message", "param", "code", "errors"}, error
    assert (error["type"], error["code"]) == (type_, code), error
    if param is not ...:
        assert error["param"] == param, error
    if message is not None:
        assert message in error["message"], error
    if client is not None:
        assert client.get("/healthz").status_code == 200
    return error


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) pairs and ('comment', text) for heartbeats, in order."""
    out, event, data = [], None, None
    for line in text.splitlines():
        if line.startswith(":"):
            out.append(("comment", line[1:].strip()))
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and event:
            out.append((event, data))
            event, data = None, None
    return out


class TestClientTransport(httpx.BaseTransport):
    """Our client (built on httpx) over Starlette's TestClient, whichever HTTP package that is
    built on: since starlette 1.10 it is httpx2 wherever httpx2 is installed (openai and
    huggingface_hub bring it), and httpx2's types are not httpx's. Each request is handed to
    the TestClient and its response handed back as httpx's, body undecoded."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, http: Any) -> None:
        self.http = http

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = self.http.build_request(request.method, str(request.url),
                                       headers=request.headers.multi_items(),
                                       content=request.read())
        response = self.http.send(sent, stream=True)
        return httpx.Response(response.status_code, headers=response.headers.multi_items(),
                              stream=_Body(response))


class _Body(httpx.SyncByteStream):
    def __init__(self, response: Any) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from self.response.iter_raw()

    def close(self) -> None:
        self.response.close()
