"""The real service in-process for contract tests: `create_app` with the scripted fake engine,
a real DuckDB store and real Parquet files in a temp dir, reached through httpx transports:
Starlette's TestClient (a sync ASGI transport, bridged: http_support.TestClientTransport) for
`Client`, httpx.ASGITransport for `AsyncClient`. The app's lifespan (store, job supervisor, worker process) runs once per app."""

from __future__ import annotations

import contextlib
import inspect
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from client_support import Runner
from http_support import TestClientTransport
from slick_client import AsyncClient, Client

URL = "http://testserver"
N_ROWS = 24
KNOWN = 5  # q0..q4: the greedy answer is right -> HighlyKnown
SAMPLED = 5  # q5..q9: only samples are right -> WeaklyKnown; the rest Unknown


def question(i: int) -> str:
    return f"What is the capital of country {i}?"


def answer(i: int) -> str:
    return f"City {i}"


def rows(n: int = N_ROWS, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "question": question(i), "answer": answer(i)}
            for i in range(start, start + n)]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def engine_script(delay_s: float = 0.0) -> dict[str, Any]:
    return {
        "greedy": {question(i): answer(i) for i in range(KNOWN)},
        "samples": {question(i): answer(i) for i in range(KNOWN, KNOWN + SAMPLED)},
        "delay_s": delay_s,
    }


@dataclass
class Live:
    """A running app and the ways to reach it."""

    app: Any
    http: Any  # starlette.testclient.TestClient on the app (httpx2 or httpx)
    settings: Any
    api_key: str | None = None

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("api_key", self.api_key)
        return Client(URL, transport=TestClientTransport(self.http), **kwargs)

    def async_client(self, **kwargs: Any) -> AsyncClient:
        kwargs.setdefault("api_key", self.api_key)
        return AsyncClient(URL, transport=httpx.ASGITransport(app=self.app), **kwargs)


@contextlib.contextmanager
def live_app(data_dir: Path, **overrides: Any) -> Iterator[Live]:
    """Start the app (fake engine, data in `data_dir`) and wait until its engine is loaded."""
    from slick_curator.app import create_app
    from slick_curator.settings import Settings
    from starlette.testclient import TestClient

    options = {
        "data_dir": data_dir, "engine": "fake", "model": "fake", "shard_size": 4,
        "engine_options": engine_script(), "progress_interval_s": 0.0,
        "sse_heartbeat_s": 0.2, "allowed_engines": [], "allowed_models": ["fake-2"],
    }
    options.update(overrides)
    settings = Settings(_env_file=None, **options)
    app = create_app(settings, configure_logs=False)
    keys = settings.api_keys
    with TestClient(app, base_url=URL, raise_server_exceptions=False) as http:
        live = Live(app, http, settings, api_key=keys[0] if keys else None)
        with live.client() as c:
            deadline = time.monotonic() + 120
            while not c.ready():
                if time.monotonic() > deadline:
                    raise RuntimeError("the fake engine did not load within 120 s")
                time.sleep(0.05)
        yield live


LiveRunner = Runner  # against a `Live` app: it has `client()` and `async_client()` too


def seq(*steps: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One client function running `steps` in order, each getting the client and the last
    result, for sync and async clients alike; returns the last result."""

    def sync_fn(c: Any) -> Any:
        result = None
        for step in steps:
            result = step(c, result)
        return result

    async def async_fn(c: Any) -> Any:
        result = None
        for step in steps:
            result = step(c, result)
            if inspect.isawaitable(result):
                result = await result
        return result

    return lambda c: async_fn(c) if isinstance(c, AsyncClient) else sync_fn(c)
