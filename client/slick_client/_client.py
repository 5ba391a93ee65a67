"""The clients: `Client` and `AsyncClient`, which differ only in how they perform the I/O
primitives of a plan (`_calls`); everything else is shared."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from slick_client import _retry
from slick_client._base import BaseClient
from slick_client._calls import (
    Call,
    Close,
    Driver,
    Emit,
    Lines,
    NextLine,
    Offload,
    Plan,
    Read,
    Save,
    Send,
    Sleep,
    Step,
)
from slick_client._datasets import AsyncDatasets, Datasets
from slick_client._files import atomic_file
from slick_client._finetunes import AsyncFinetunes, Finetunes
from slick_client._probes import AsyncProbes, Probes
from slick_client._transfer import as_plan, expand, health_call, ready_plan
from slick_client._uploads import aiter_chunks, iter_chunks

T = TypeVar("T")

__all__ = ["AsyncClient", "Client"]


class Client(BaseClient[httpx.Client, httpx.BaseTransport]):
    """A synchronous client of a slick-curator service.

    >>> with Client("http://gpu-box:8000", api_key="...") as c:   # doctest: +SKIP
    ...     ds = c.datasets.upload("train.jsonl")
    ...     job = c.probes.wait(c.probes.create(ds.id).id, progress=True)
    ...     table = c.probes.result(job.id)

    Its resources: `datasets` (upload, get, list), `probes` (create, follow, cancel probe
    jobs and fetch their results) and `finetunes` (fine-tune on curation variants and verify:
    create, wait, report, predictions). For the options see `BaseClient`.
    """

    datasets: Datasets
    probes: Probes
    finetunes: Finetunes

    def _connect(self, transport: httpx.BaseTransport | None,
                 http_client: httpx.Client | None) -> httpx.Client:
        self.datasets, self.probes, self.finetunes = Datasets(self), Probes(self), Finetunes(self)
        return http_client or httpx.Client(transport=transport, timeout=self.timeout)

    def health(self) -> dict[str, Any]:
        """GET /healthz: the service's liveness answer (raises if it is not alive)."""
        return cast(dict[str, Any], self._run(health_call()))

    def ready(self) -> bool:
        """GET /readyz: True once the engine is loaded, False while the server says 503."""
        return self._run(ready_plan())

    def close(self) -> None:
        """Close the connection pool (not a caller's `http_client`)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, work: Plan[T] | Call[T]) -> T:
        """Carry out a plan (or one call) to its result."""
        driver = Driver(as_plan(work), functools.partial(expand, self))
        for _ in self._drive(driver):
            raise TypeError("this plan emits values: iterate it with _iterate")
        return cast(T, driver.result)

    def _iterate(self, plan: Plan[None]) -> Iterator[Any]:
        """The values a plan emits, as it runs; leaving the loop stops it."""
        return self._drive(Driver(plan, functools.partial(expand, self)))

    def _drive(self, driver: Driver) -> Iterator[Any]:
        try:
            for step in driver:
                if isinstance(step, Emit):
                    yield step.value
                else:
                    driver.answer(self._perform, step)
        finally:
            driver.close()
            for response in driver.open:
                response.close()

    def _perform(self, step: Step) -> Any:
        """One I/O primitive, in this thread."""
        match step:
            case Send():
                with contextlib.ExitStack() as stack:
                    body = step.call.body
                    content = body and iter_chunks(stack.enter_context(body.open()))
                    return self._http.send(self._build(step, content), stream=step.call.stream)
            case Read(response):
                return response.read()
            case Close(response):
                return response.close()
            case Save(response, target):
                with atomic_file(target) as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                return None
            case Lines(response):
                return response.iter_lines()
            case NextLine(lines):
                return next(lines, None)
            case Sleep(seconds):
                return _retry.sleep(seconds)
            case Offload(function, args):
                return function(*args)
        raise TypeError(f"not an I/O step: {step!r}")


class AsyncClient(BaseClient[httpx.AsyncClient, httpx.AsyncBaseTransport]):
    """An asynchronous client of a slick-curator service (asyncio or trio).

    >>> async with AsyncClient("http://gpu-box:8000") as c:   # doctest: +SKIP
    ...     ds = await c.datasets.upload("train.jsonl")
    ...     job = await c.probes.wait((await c.probes.create(ds.id)).id)
    ...     table = await c.probes.result(job.id)

    The resources are those of `Client` (`datasets`, `probes`, `finetunes`), every method
    awaited; `http_client` is an `httpx.AsyncClient`, `transport` an async one. For the
    options see `BaseClient`.
    """

    datasets: AsyncDatasets
    probes: AsyncProbes
    finetunes: AsyncFinetunes

    def _connect(self, transport: httpx.AsyncBaseTransport | None,
                 http_client: httpx.AsyncClient | None) -> httpx.AsyncClient:
        self.datasets = AsyncDatasets(self)
        self.probes = AsyncProbes(self)
        self.finetunes = AsyncFinetunes(self)
        return http_client or httpx.AsyncClient(transport=transport, timeout=self.timeout)

    async def health(self) -> dict[str, Any]:
        """GET /healthz: the service's liveness answer (raises if it is not alive)."""
        return cast(dict[str, Any], await self._run(health_call()))

    async def ready(self) -> bool:
        """GET /readyz: True once the engine is loaded, False while the server says 503."""
        return await self._run(ready_plan())

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

    async def _run(self, work: Plan[T] | Call[T]) -> T:
        """Carry out a plan (or one call) to its result."""
        driver = Driver(as_plan(work), functools.partial(expand, self))
        async with contextlib.aclosing(self._drive(driver)) as values:
            async for _ in values:
                raise TypeError("this plan emits values: iterate it with _iterate")
        return cast(T, driver.result)

    def _iterate(self, plan: Plan[None]) -> AsyncIterator[Any]:
        """The values a plan emits, as it runs; leaving the loop (and closing) stops it."""
        return self._drive(Driver(plan, functools.partial(expand, self)))

    async def _drive(self, driver: Driver) -> AsyncGenerator[Any, None]:
        import anyio

        try:
            for step in driver:
                if isinstance(step, Emit):
                    yield step.value
                    continue
                try:
                    driver.value = await self._perform(step)
                except BaseException as exc:  # noqa: BLE001 - thrown into the plan
                    driver.error = exc
        finally:
            driver.close()
            with anyio.CancelScope(shield=True):  # close connections even when cancelled
                for response in driver.open:
                    await response.aclose()

    async def _perform(self, step: Step) -> Any:
        """One I/O primitive, awaited; file work runs in worker threads."""
        import anyio.to_thread

        match step:
            case Send():
                async with contextlib.AsyncExitStack() as stack:
                    body = step.call.body
                    content = body and aiter_chunks(stack.enter_context(body.open()))
                    return await self._http.send(self._build(step, content),
                                                 stream=step.call.stream)
            case Read(response):
                return await response.aread()
            case Close(response):
                return await response.aclose()
            case Save(response, target):
                with atomic_file(target) as handle:
                    async for chunk in response.aiter_bytes():
                        await anyio.to_thread.run_sync(handle.write, chunk)
                return None
            case Lines(response):
                return response.aiter_lines()
            case NextLine(lines):
                return await anext(lines, None)
            case Sleep(seconds):
                return await _retry.asleep(seconds)
            case Offload(function, args):
                return await anyio.to_thread.run_sync(function, *args)
        raise TypeError(f"not an I/O step: {step!r}")
