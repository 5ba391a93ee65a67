"""A small OpenAI-compatible completions server around one of our own engines, for testing
the remote engine over real HTTP (uvicorn on a loopback socket, in a thread).

It speaks the subset `vllm serve` speaks for us: GET /v1/models, POST /v1/completions with
`prompt` (a string or a list), `n`, `temperature`, `top_k` (vLLM's extension), `top_p`,
`max_tokens`, `stop`, `seed`, `add_special_tokens` (vLLM's extension); choices indexed prompt * n + sample; `usage`; OpenAI-shaped errors.
Faults can be queued to test retries: an HTTP status to answer, or "hang" to answer late.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slick_curator.engines.base import Engine, GenerationRequest, SamplingParams


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}},
                        status_code=status)


class OpenAITestServer:
    """`engine` served as `model` at `self.base_url` (".../v1") while inside `running()`."""

    def __init__(self, engine: Engine, model: str, *, api_key: str | None = None,
                 hang_s: float = 2.0) -> None:
        self.engine = engine
        self.model = model
        self.api_key = api_key
        self.hang_s = hang_s
        self.faults: collections.deque[int | str] = collections.deque()
        self.bodies: list[dict[str, Any]] = []  # every completions body received
        self.in_flight = 0
        self.max_in_flight = 0
        self._counter = threading.Lock()
        self._engine_lock = threading.Lock()  # our engines are not thread-safe
        self.base_url = ""
        self.app = self._build()

    def _build(self) -> FastAPI:
        app = FastAPI()

        def unauthorized(request: Request) -> JSONResponse | None:
            if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "invalid API key", "authentication_error")
            return None

        @app.get("/v1/models")
        def models(request: Request):
            return unauthorized(request) or {
                "object": "list", "data": [{"id": self.model, "object": "model"}]}

        @app.post("/v1/completions")
        async def completions(request: Request):
            denied = unauthorized(request)
            if denied:
                return denied
            body = await request.json()
            self.bodies.append(body)
            if self.faults:
                fault = self.faults.popleft()
                if fault == "hang":  # answer only after the client has given up
                    await asyncio.sleep(self.hang_s)
                else:
                    return _error(int(fault), f"injected fault {fault}", "server_error")
            return await _run_in_thread(self._complete, body)

        return app

    def _complete(self, body: dict[str, Any]) -> JSONResponse | dict[str, Any]:
        with self._counter:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if body.get("model") != self.model:
                return _error(404, f"The model `{body.get('model')}` does not exist.")
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            temperature = float(body.get("temperature", 1.0))
            n = int(body.get("n", 1))
            try:
                params = SamplingParams(
                    temperature=temperature, top_k=max(int(body.get("top_k", -1)), 0), n=n,
                    max_new_tokens=int(body.get("max_tokens", 16)),
                    stop=tuple(body.get("stop") or ()))
            except ValueError as exc:
                return _error(400, str(exc))
            with self._engine_lock:
                seed = body.get("seed")
                special = bool(body.get("add_special_tokens", True))
                results = self.engine.generate([
                    GenerationRequest(p, params, seed=None if seed is None else int(seed),
                                      add_special_tokens=special)
                    for p in prompts])
            choices = [{"index": i * n + j, "text": text, "logprobs": None,
                        "finish_reason": "stop"}
                       for i, result in enumerate(results) for j, text in enumerate(result.texts)]
            prompt_tokens = sum(r.prompt_tokens for r in results)
            completion_tokens = sum(r.generated_tokens for r in results)
            # Reversed on purpose: clients must order choices by their index.
            return {"id": "cmpl-test", "object": "text_completion", "model": self.model,
                    "created": int(time.time()), "choices": choices[::-1],
                    "usage": {"prompt_tokens": prompt_tokens,
                              "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens}}
        finally:
            with self._counter:
                self.in_flight -= 1

    @contextlib.contextmanager
    def running(self) -> Iterator[OpenAITestServer]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                               timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "test server did not start"
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()


async def _run_in_thread(fn, *args):
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)
