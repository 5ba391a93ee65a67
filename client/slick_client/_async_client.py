"""The asynchronous client: the same surface as `Client`, every call awaited."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from slick_client import _retry
from slick_client._async_probes import AsyncProbes
from slick_client._base import (
    DEFAULT_TIMEOUT,
    BaseClient,
    describe_transport_error,
    parse_json,
)
from slick_client._calls import Call, Plan, arun_plan
from slick_client._datasets import AsyncDatasets
from slick_client._errors import ServerError, TransportError, error_from_response
from slick_client._files import atomic_file
from slick_client._finetunes import AsyncFinetunes
from slick_client._uploads import UploadBody, aiter_chunks

T = TypeVar("T")

__all__ = ["AsyncClient"]

class AsyncClient(BaseClient):
    """An asynchronous client of a slick-curator service (asyncio or trio).

    >>> async with AsyncClient("http://gpu-box:8000") as c:   # doctest: +SKIP
    ...     ds = await c.datasets.upload("train.jsonl")
    ...     job = await c.probes.wait((await c.probes.create(ds.id)).id)
    ...     table = await c.probes.result(job.id)

    `base_url` and `api_key` default to the environment variables SLICK_BASE_URL and
    SLICK_API_KEY (and the URL to http://127.0.0.1:8000, where `slick serve` listens).
    `timeout` is in seconds (or an `httpx.Timeout`) per request; `max_retries` is how often an
    idempotent request is retried after a connection error or a 502/503/504. `transport`
    replaces the network (e.g. `httpx.MockTransport`, or a WSGI/ASGI transport in tests);
    `http_client` is a ready `httpx.AsyncClient` to use instead of the client's own (it is not
    closed by `aclose()`).
    """

    def __init__(
        self,
        base_url: str | httpx.URL | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        if http_client is not None and transport is not None:
            raise ValueError("pass either transport or http_client, not both")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=self.timeout)
        self.datasets = AsyncDatasets(self)
        """Upload, get and list datasets."""
        self.probes = AsyncProbes(self)
        """Create, follow, cancel probe jobs and fetch their results."""
        self.finetunes = AsyncFinetunes(self)
        """Fine-tune on curation variants and verify: create, wait, report, predictions."""

    async def health(self) -> dict[str, Any]:
        """GET /healthz: the service's liveness answer (raises if it is not alive)."""
        return cast(dict[str, Any], parse_json(await self._request("GET", "/healthz", retry=True)))

    async def ready(self) -> bool:
        """GET /readyz: True once the engine is loaded, False while the server says 503."""
        try:
            await self._request("GET", "/readyz", retry=False)
        except ServerError as exc:
            if exc.status_code == 503:
                return False
            raise
        return True

    async def aclose(self) -> None:
        """Close the connection pool (not a caller's `http_client`)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        retry: bool,
        params: dict[str, Any] | None = None,
        json: Any = None,
        body: UploadBody | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send one call, retrying when `retry` allows; a 2xx response or a typed error.

        With `stream=True` the caller must close the returned response. `timeout` replaces
        the client's for this call.
        """
        attempts = self.max_retries + 1 if retry else 1
        extra = dict(headers or {})
        if body is not None:
            extra.update(body.headers())
        for attempt in range(attempts):
            last = attempt == attempts - 1
            async with contextlib.AsyncExitStack() as stack:
                content = None
                if body is not None:
                    content = aiter_chunks(stack.enter_context(body.open()))
                request = self._http.build_request(
                    method,
                    self._url(path),
                    params=params,
                    json=json,
                    content=content,
                    headers=self._headers(extra),
                    timeout=timeout or self.timeout,
                )
                try:
                    response = await self._http.send(request, stream=stream)
                except httpx.TransportError as exc:
                    if last:
                        raise TransportError(
                            describe_transport_error(exc, request), request=request
                        ) from exc
                    await _retry.asleep(_retry.delay_for(attempt, None))
                    continue
                except httpx.RequestError as exc:
                    raise TransportError(
                        describe_transport_error(exc, request), request=request
                    ) from exc
            if response.is_success:
                return response
            if not last and _retry.should_retry_status(response.status_code):
                await response.aclose()
                await _retry.asleep(_retry.delay_for(attempt, response))
                continue
            try:
                await response.aread()
            except httpx.RequestError as exc:
                raise TransportError(
                    describe_transport_error(exc, request), request=request
                ) from exc
            finally:
                await response.aclose()
            raise error_from_response(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download(self, path: str, query: dict[str, Any], target: Path
                        ) -> httpx.Response:
        """Stream a GET to `target` through a temp file, starting over if the body breaks."""
        import anyio.to_thread

        for attempt in range(self.max_retries + 1):
            response = await self._request("GET", path, params=query, retry=True,
                                           stream=True)
            try:
                with atomic_file(target) as handle:
                    async for chunk in response.aiter_bytes():
                        await anyio.to_thread.run_sync(handle.write, chunk)
                return response
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise TransportError(describe_transport_error(exc, response.request),
                                         request=response.request) from exc
            finally:
                await response.aclose()
            await _retry.asleep(_retry.delay_for(attempt, None))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call(self, call: Call[T]) -> T:
        """Send `call` (with the retries it allows) and read its response."""
        return call.parse(await self._request(call.method, call.path, retry=call.retry,
                                              params=call.params, json=call.json, body=call.body))

    async def _run(self, plan: Plan[T]) -> T:
        return await arun_plan(plan, self._call)
