"""How a `Call` or a `Download` becomes I/O primitives: retries, typed errors, whole files.
Plans (see `_calls`), shared by the sync and the async client."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from slick_client import _retry
from slick_client._base import BaseClient, parse_json
from slick_client._calls import Call, Close, Download, Plan, Read, Save, Send, Sleep, Step
from slick_client._errors import ServerError, TransportError, error_from_response

T = TypeVar("T")

__all__ = ["as_plan", "expand", "fetch_plan", "health_call", "ready_plan"]


def expand(client: BaseClient, step: Step) -> Plan[Any] | None:
    """The plan a composite step stands for; None for a primitive."""
    if isinstance(step, Call):
        return call_plan(client, step)
    if isinstance(step, Download):
        return download_plan(client, step)
    return None


def as_plan(work: Plan[T] | Call[T]) -> Plan[T]:
    """A plan for a lone call too."""
    if isinstance(work, Generator):
        return work
    return _single(work)


def _single(call: Call[T]) -> Plan[T]:
    return (yield call)


def call_plan(client: BaseClient, call: Call[T]) -> Plan[T]:
    """Send `call` (with the retries it allows) and read its response."""
    response = yield from send_plan(client, call)
    return cast(T, response) if call.stream else call.parse(response)


def send_plan(client: BaseClient, call: Call[Any]) -> Plan[httpx.Response]:
    """A 2xx response (open when `call.stream`) or a typed error, retrying a call that may
    be sent again after a transport failure or a 502/503/504."""
    attempts = client.max_retries + 1 if call.retry else 1
    extra = dict(call.headers or {})
    if call.body is not None:
        extra.update(call.body.headers())
    send = Send(call, client._url(call.path), client._headers(extra),
                client._stream_timeout(call.deadline))
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response: httpx.Response = yield send
        except httpx.TransportError as exc:
            if last:
                raise transport_error(exc) from exc
            yield Sleep(_retry.delay_for(attempt, None))
            continue
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc
        if response.is_success:
            return response
        if not last and _retry.should_retry_status(response.status_code):
            yield Close(response)
            yield Sleep(_retry.delay_for(attempt, response))
            continue
        try:
            yield Read(response)
        except httpx.RequestError as exc:
            yield Close(response)
            raise transport_error(exc) from exc
        yield Close(response)
        raise error_from_response(response)
    raise AssertionError("unreachable")  # pragma: no cover


def download_plan(client: BaseClient, download: Download) -> Plan[httpx.Response]:
    """Stream a GET to its target through a temp file, starting over if the body breaks."""
    for attempt in range(client.max_retries + 1):
        response = yield Call("GET", download.path, retry=True, params=download.params,
                              stream=True)
        try:
            yield Save(response, download.target)
        except httpx.TransportError as exc:
            yield Close(response)
            if attempt == client.max_retries:
                raise transport_error(exc) from exc
            yield Sleep(_retry.delay_for(attempt, None))
            continue
        yield Close(response)
        return response
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_plan(path: str, params: dict[str, Any], target: str | os.PathLike[str] | None,
               parse: Callable[[httpx.Response], T]) -> Plan[T | Path]:
    """GET `path` read by `parse`; with `target`, its body streamed there (whole or not at all)
    and the Path returned."""
    if target is None:
        return (yield Call("GET", path, retry=True, params=params, parse=parse))
    yield Download(path, params, Path(target))
    return Path(target)


def transport_error(exc: httpx.RequestError) -> TransportError:
    """One line for a failed request: what failed, where, and httpx's reason."""
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # raised before any request was made
        request = None
    target = f"{request.method} {request.url}" if request is not None else "request"
    reason = str(exc) or type(exc).__name__
    return TransportError(f"{type(exc).__name__} on {target}: {reason}", request=request)


def health_call() -> Call[Any]:
    return Call("GET", "/healthz", retry=True, parse=parse_json)


def ready_plan() -> Plan[bool]:
    """True once the engine is loaded, False while the server says 503."""
    try:
        yield Call("GET", "/readyz", retry=False)
    except ServerError as exc:
        if exc.status_code == 503:
            return False
        raise
    return True
