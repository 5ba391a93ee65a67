"""Test helpers for the client: a scripted server behind httpx.MockTransport, a runner that
drives Client and AsyncClient with one test body, and JSON factories for the wire schemas."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from slick_client import AsyncClient, Client

BASE = "http://slick.test"
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).isoformat()


def dataset_json(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "ds1", "name": "train.jsonl", "format": "jsonl", "kind": "qa", "rows": 3,
        "valid_rows": 3, "sha256": "ab" * 32, "size_bytes": 10, "columns": ["question", "answer"],
        "groups": {"all": 3}, "errors": [], "created_at": NOW,
    }
    body.update(overrides)
    return body


def probe_json(status: str = "running", done: int = 0, total: int = 10, **overrides: Any):
    body = {
        "id": "p1", "dataset_id": "ds1", "exemplar_dataset_id": None, "status": status,
        "model": "smollm2-135m", "engine": "transformers", "params": {},
        "progress": {"done": done, "total": total, "rate": 2.5 if done else None,
                     "eta_s": (total - done) / 2.5 if done else None},
        "counts": {"HighlyKnown": done} if status == "succeeded" else {}, "error": None,
        "created_at": NOW, "started_at": None, "finished_at": None,
    }
    body.update(overrides)
    return body


def error_json(status: int, type_: str, message: str, param: str | None = None,
               errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "param": param, "code": status,
                      "errors": errors}}


def sse(*events: tuple[str, dict[str, Any]], heartbeat: bool = False) -> bytes:
    """An event stream: `event: name` + `data: json` per event, comments if `heartbeat`."""
    out = []
    for name, data in events:
        if heartbeat:
            out.append(": ping\n\n")
        out.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")
    return "".join(out).encode()


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Server:
    """Routes (method, path) to handlers, or to a list of responses served in turn, and keeps
    every request it saw, with its body and the sizes of the chunks the body was sent in."""

    routes: dict[tuple[str, str], Handler | list[Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    chunks: list[list[int]] = field(default_factory=list)

    def route(self, method: str, path: str, *responses: Any) -> None:
        """Serve `responses` in turn (the last one repeats); a callable is called."""
        self.routes[(method, path)] = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(request.read())
        if len(self.chunks) < len(self.requests):
            self.chunks.append([len(self.bodies[-1])])
        key = (request.method, request.url.path)
        if key not in self.routes:
            return httpx.Response(404, json=error_json(404, "not_found", f"no route {key}"))
        queue = self.routes[key]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return item(request)
        # A fresh copy each time: one httpx.Response must not serve two requests.
        return httpx.Response(item.status_code, headers=item.headers, content=item.content)

    def calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        return [r for r in self.requests
                if (method is None or r.method == method)
                and (path is None or r.url.path == path)]

    def client(self, **kwargs: Any) -> Client:
        return Client(BASE, transport=ChunkRecordingTransport(self), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        return AsyncClient(BASE, transport=ChunkRecordingTransport(self), **kwargs)


class ChunkRecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Like httpx.MockTransport, but reads the request body chunk by chunk as a server would,
    so tests can see whether a body was streamed or sent in one piece."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        parts = list(request.stream)
        return self._answer(request, parts)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts = [part async for part in request.stream]
        return self._answer(request, parts)

    def _answer(self, request: httpx.Request, parts: list[bytes]) -> httpx.Response:
        self.server.chunks.append([len(p) for p in parts])
        request.stream = httpx.ByteStream(b"".join(parts))
        return self.server(request)


def collect(iterator: Any) -> Any:
    """A list of what a sync iterator yields, or a coroutine giving that of an async one."""
    if hasattr(iterator, "__aiter__"):
        async def gather() -> list[Any]:
            return [item async for item in iterator]

        return gather()
    return list(iterator)


class Runner:
    """Runs `fn(client)` on a sync `Client` or an `AsyncClient` of `source` (the scripted
    `Server`, or a live app), awaiting what it returns, so one test body checks both."""

    def __init__(self, source: Any, mode: str) -> None:
        self.source = source
        self.mode = mode

    def __call__(self, fn: Callable[[Any], Any], **client_kwargs: Any) -> Any:
        if self.mode == "sync":
            with self.source.client(**client_kwargs) as c:
                return fn(c)

        async def main() -> Any:
            import inspect

            async with self.source.async_client(**client_kwargs) as c:
                result = fn(c)
                return await result if inspect.isawaitable(result) else result

        import asyncio

        return asyncio.run(main())


class ScriptedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in the given parts; an exception among them is raised there (a
    broken connection, a Ctrl-C). `closed` tells whether the client closed it."""

    def __init__(self, *parts: bytes | BaseException, delay_s: float = 0.0) -> None:
        self.parts = parts
        self.delay_s = delay_s
        self.closed = False

    def __iter__(self):
        import time

        for part in self.parts:
            if self.delay_s:
                time.sleep(self.delay_s)
            if isinstance(part, BaseException):
                raise part
            yield part

    async def __aiter__(self):
        import anyio

        for part in self.parts:
            await anyio.sleep(self.delay_s)  # a real wait: lets other tasks (a cancel) run
            if isinstance(part, BaseException):
                raise part
            yield part

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def event_stream(*parts: bytes | BaseException, delay_s: float = 0.0,
                 streams: list[ScriptedStream] | None = None) -> Handler:
    """A handler answering with an event stream made of `parts` (see ScriptedStream)."""

    def handler(request: httpx.Request) -> httpx.Response:
        stream = ScriptedStream(*parts, delay_s=delay_s)
        if streams is not None:
            streams.append(stream)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)

    return handler
