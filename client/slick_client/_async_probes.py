"""`client.probes` of an `AsyncClient`: the same surface as `Probes`, every call awaited."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, MutableSequence, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import httpx

from slick_client import _retry
from slick_client._base import (
    TERMINAL_STATUSES,
    check_deadline,
    describe_transport_error,
    path_id,
    wait_timeout,
)
from slick_client._curation import CuratedFile, curated_query, report_query
from slick_client._errors import JobFailedError, SlickError, TransportError
from slick_client._probe_calls import (
    cancel_call,
    create_call,
    curated_call,
    get_call,
    list_call,
    probe_path,
    report_call,
    report_json_call,
    result_call,
    rows_call,
)
from slick_client._probes import (
    job_of,
    stream_broke,
)
from slick_client._progress import ProgressBar
from slick_client._session import AsyncSession
from slick_client._sse import HEARTBEAT, ServerSentEvent, SSEDecoder
from slick_client.schemas import (
    JobStatus,
    ProbePublic,
    ProbesPublic,
    ReportPublic,
    RowsPublic,
)

if TYPE_CHECKING:
    import pyarrow as pa


__all__ = ["AsyncProbes"]


class AsyncProbes:
    """Probe jobs on the server: `client.probes` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def create(self, dataset_id: str, *, exemplar_dataset_id: str | None = None,
                     model: str | None = None, engine: str | None = None,
                     **params: Any) -> ProbePublic:
        """Start probing a dataset; see `Probes.create`. Never retried."""
        return await self._client._call(create_call(
            dataset_id, exemplar_dataset_id=exemplar_dataset_id, model=model, engine=engine,
            params=params))

    async def get(self, probe_id: str) -> ProbePublic:
        """See `Probes.get`."""
        return await self._client._call(get_call(probe_id))

    async def list(self, *, limit: int | None = None, offset: int | None = None,
                   status: JobStatus | None = None) -> ProbesPublic:
        """See `Probes.list`."""
        return await self._client._call(list_call(limit, offset, status))

    async def cancel(self, probe_id: str) -> ProbePublic:
        """See `Probes.cancel`."""
        return await self._client._call(cancel_call(probe_id))

    async def events(self, probe_id: str) -> AsyncIterator[ProbePublic]:
        """The job's states as the server pushes them, ending with the terminal one."""
        async with contextlib.aclosing(self._event_stream(probe_id, deadline=None)) as stream:
            async for job in stream:
                if job is not None:
                    yield job

    async def wait(
        self,
        probe_id: str,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> ProbePublic:
        """Wait until the job ends; see `Probes.wait`. Cancelling the awaiting task (or
        Ctrl-C under `asyncio.run`) closes the bar and leaves the job running on the server.

        The timeout is also enforced as a cancel scope, so it holds even with a transport that
        ignores read timeouts (e.g. an in-process ASGI transport)."""
        import anyio

        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(enabled=progress)
        seen: MutableSequence[ProbePublic] = []
        try:
            with anyio.move_on_after(timeout) as scope:
                job = await self._follow(probe_id, deadline, bar, poll_interval, seen)
            if scope.cancelled_caught:
                raise wait_timeout(seen[-1] if seen else None, probe_id)
        except KeyboardInterrupt:
            bar.close()
            bar.write(f"interrupted: probe {probe_id} keeps running on the server")
            raise
        finally:
            bar.close()
        if job.status != "succeeded":
            raise JobFailedError(job)
        return job

    async def _follow(self, probe_id: str, deadline: float | None, bar: ProgressBar,
                      poll_interval: float, seen: MutableSequence[ProbePublic]
                      ) -> ProbePublic:
        """The stream, then polls, until the job is terminal; every state also goes to `seen`."""
        job: ProbePublic | None = None
        try:
            async with contextlib.aclosing(self._event_stream(probe_id, deadline)) as stream:
                async for item in stream:
                    if item is not None:
                        job = item
                        seen.append(job)
                        bar.update(job)
                        if job.status in TERMINAL_STATUSES:
                            break
                    check_deadline(deadline, job, probe_id)
        except SlickError as exc:
            if not stream_broke(exc):
                raise
        polled = False
        while job is None or job.status not in TERMINAL_STATUSES:
            if polled:
                left = None if deadline is None else deadline - time.monotonic()
                await _retry.asleep(poll_interval if left is None else min(poll_interval, left))
            check_deadline(deadline, job, probe_id)
            job = await self.get(probe_id)
            seen.append(job)
            polled = True
            bar.update(job)
        return job

    @overload
    async def result(self, probe_id: str, *, path: None = None) -> pa.Table: ...
    @overload
    async def result(self, probe_id: str, *, path: str | os.PathLike[str]) -> Path: ...

    async def result(
        self, probe_id: str, *, path: str | os.PathLike[str] | None = None
    ) -> pa.Table | Path:
        """The annotated rows of a succeeded job: a `pyarrow.Table`, or, with `path`, the
        Parquet file streamed to disk and its Path. See `Probes.result`."""
        if path is None:
            return await self._client._call(result_call(probe_id))
        await self._client._download(probe_path(probe_id, "/result"), {}, Path(path))
        return Path(path)

    async def curated(
        self,
        probe_id: str,
        *,
        policy: str = "filter",
        format: str | None = None,
        path: str | os.PathLike[str] | None = None,
        drop_annotations: bool = False,
        all_rows: bool = False,
        **knobs: Any,
    ) -> CuratedFile:
        """The curated dataset of a succeeded job under a policy; see `Probes.curated`."""
        query = curated_query(policy, format, drop_annotations, all_rows, knobs)
        if path is None:
            return await self._client._call(curated_call(probe_id, query))
        target = Path(path)
        response = await self._client._download(probe_path(probe_id, "/curated"), query,
                                                 target)
        return CuratedFile.from_response(response, path=target)

    @overload
    async def report(self, probe_id: str, *, path: None = None, policy: str | None = None,
                     examples: int | None = None, **knobs: Any) -> str: ...
    @overload
    async def report(self, probe_id: str, *, path: str | os.PathLike[str],
                     policy: str | None = None, examples: int | None = None,
                     **knobs: Any) -> Path: ...

    async def report(
        self,
        probe_id: str,
        *,
        path: str | os.PathLike[str] | None = None,
        policy: str | None = None,
        examples: int | None = None,
        **knobs: Any,
    ) -> str | Path:
        """The job's HTML report; with `path`, saved there. See `Probes.report`."""
        query = report_query(policy, examples, knobs)
        if path is None:
            return await self._client._call(report_call(probe_id, query))
        await self._client._download(probe_path(probe_id, "/report"), query, Path(path))
        return Path(path)

    async def report_json(self, probe_id: str, *, policy: str | None = None,
                          examples: int | None = None, **knobs: Any) -> ReportPublic:
        """The numbers behind the report; see `Probes.report_json`."""
        return await self._client._call(report_json_call(probe_id, policy, examples, knobs))

    async def rows(self, probe_id: str, *, category: str | Sequence[str] | None = None,
                   group: str | Sequence[str] | None = None,
                   status: str | Sequence[str] | None = None,
                   columns: Sequence[str] | None = None, limit: int = 50,
                   offset: int = 0) -> RowsPublic:
        """A page of annotated rows matching the filters; see `Probes.rows`."""
        return await self._client._call(rows_call(
            probe_id, category=category, group=group, status=status, columns=columns,
            limit=limit, offset=offset))

    async def _event_stream(
        self, probe_id: str, deadline: float | None
    ) -> AsyncGenerator[ProbePublic | None, None]:
        """Job states from the event stream; None for each heartbeat."""
        response = await self._client._request(
            "GET", f"/v1/probes/{path_id(probe_id)}/events", retry=True, stream=True,
            headers={"Accept": "text/event-stream"},
            timeout=self._client._stream_timeout(deadline),
        )
        decoder = SSEDecoder()
        try:
            async for line in response.aiter_lines():
                item = decoder.feed(line)
                if item is HEARTBEAT:
                    yield None
                elif isinstance(item, ServerSentEvent):
                    job = job_of(item, response.request)
                    if job is not None:
                        yield job
                    if item.event == "end":
                        return
        except httpx.RequestError as exc:
            raise TransportError(describe_transport_error(exc, response.request),
                                 request=response.request) from exc
        finally:
            import anyio

            with anyio.CancelScope(shield=True):  # close the connection even when cancelled
                await response.aclose()
