"""`client.probes`: create, follow, cancel probe jobs and fetch their results (sync and async).

Each behaviour is a plan (`_probe_calls`, `_probe_events`); these classes are the two typed
surfaces over it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from slick_client._base import wait_timeout
from slick_client._curation import CuratedFile
from slick_client._probe_calls import (
    cancel_call,
    create_call,
    curated_plan,
    get_call,
    list_call,
    report_json_call,
    report_plan,
    result_plan,
    rows_call,
)
from slick_client._probe_events import events_plan, wait_plan
from slick_client._session import AsyncSession, Session
from slick_client.schemas import (
    JobStatus,
    ProbePublic,
    ProbesPublic,
    ReportPublic,
    RowsPublic,
)

if TYPE_CHECKING:
    import pyarrow as pa


__all__ = ["AsyncProbes", "Probes"]


class Probes:
    """Probe jobs on the server: `client.probes`."""

    def __init__(self, client: Session) -> None:
        self._client = client

    def create(self, dataset_id: str, *, exemplar_dataset_id: str | None = None,
               model: str | None = None, engine: str | None = None,
               **params: Any) -> ProbePublic:
        """Start probing a dataset; returns the queued job.

        `params` are `ProbeParams` fields (mode, n_prompts, k_shot, n_samples, temperature,
        top_k, max_new_tokens, prompt_format, match, seed, unknown_action, keep_prompts,
        prune_samples). They are validated here first: a bad value raises InvalidParamsError
        naming the field, and no request is sent. Never retried, so a job is never started
        twice.
        """
        return self._client._run(create_call(dataset_id, exemplar_dataset_id=exemplar_dataset_id,
                                              model=model, engine=engine, params=params))

    def get(self, probe_id: str) -> ProbePublic:
        """The job's current state (NotFoundError if there is none)."""
        return self._client._run(get_call(probe_id))

    def list(self, *, limit: int | None = None, offset: int | None = None,
             status: JobStatus | None = None) -> ProbesPublic:
        """A page of jobs, newest first, optionally only those with `status`."""
        return self._client._run(list_call(limit, offset, status))

    def cancel(self, probe_id: str) -> ProbePublic:
        """Ask the server to cancel the job; returns its state (it may take a moment to stop)."""
        return self._client._run(cancel_call(probe_id))

    def events(self, probe_id: str) -> Iterator[ProbePublic]:
        """The job's states as the server pushes them (server-sent events), ending with the
        terminal one. Close the iterator (or leave the loop) to stop listening."""
        return cast(Iterator[ProbePublic], self._client._iterate(events_plan(probe_id)))

    def wait(
        self,
        probe_id: str,
        *,
        progress: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> ProbePublic:
        """Block until the job ends; returns it when it succeeded.

        Follows the event stream, and polls every `poll_interval` seconds if the stream fails.
        `progress=True` draws a bar on stderr (rows done/total, rate, ETA). Raises
        JobFailedError if the job failed or was cancelled, WaitTimeoutError after `timeout`
        seconds. Ctrl-C closes the bar and raises KeyboardInterrupt: the job keeps running on
        the server (use `cancel` to stop it).
        """
        return self._client._run(wait_plan(probe_id, progress=progress, timeout=timeout,
                                           poll_interval=poll_interval, seen=[]))

    @overload
    def result(self, probe_id: str, *, path: None = None) -> pa.Table: ...
    @overload
    def result(self, probe_id: str, *, path: str | os.PathLike[str]) -> Path: ...

    def result(
        self, probe_id: str, *, path: str | os.PathLike[str] | None = None
    ) -> pa.Table | Path:
        """The annotated rows of a succeeded job.

        Without `path`, a `pyarrow.Table`. With `path`, the Parquet file is streamed to disk
        (a temp file renamed into place, so `path` is never half-written) and the Path is
        returned. ConflictError while the job has not succeeded.
        """
        return self._client._run(result_plan(probe_id, path))

    def curated(
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
        """The curated dataset of a succeeded job under a policy, in the uploaded format.

        `policy` is "filter" (drop rows the model does not know), "relabel" (answer them with
        `abstention`), "keep", or "trim" (free-form answers lose the sentences whose facts the
        model does not know, when the rest stands on its own); `knobs` are the other
        `CurationParams` fields (unknown, min_p_greedy, min_p_sample, min_known_share,
        max_share, caps, min_per_group, seed, abstention),
        validated here first (InvalidParamsError, nothing sent). `format` is "jsonl", "json",
        "csv" or "parquet" (default: the dataset's own). With `path` the file is streamed to
        disk (renamed into place when complete). The CuratedFile has the policy's counts and
        `records()` / `table()`.
        """
        return self._client._run(curated_plan(
            probe_id, path, policy=policy, format=format, drop_annotations=drop_annotations,
            all_rows=all_rows, knobs=knobs))

    @overload
    def report(self, probe_id: str, *, path: None = None, policy: str | None = None,
               examples: int | None = None, **knobs: Any) -> str: ...
    @overload
    def report(self, probe_id: str, *, path: str | os.PathLike[str], policy: str | None = None,
               examples: int | None = None, **knobs: Any) -> Path: ...

    def report(
        self,
        probe_id: str,
        *,
        path: str | os.PathLike[str] | None = None,
        policy: str | None = None,
        examples: int | None = None,
        **knobs: Any,
    ) -> str | Path:
        """The job's HTML report (one self-contained page); with `path`, saved there.

        The policy's effect is shown for `policy` and `knobs` (default: filter); `examples`
        is the number of example rows per category (default 5).
        """
        return self._client._run(report_plan(probe_id, path, policy=policy,
                                             examples=examples, knobs=knobs))

    def report_json(self, probe_id: str, *, policy: str | None = None,
                    examples: int | None = None, **knobs: Any) -> ReportPublic:
        """The numbers behind the report: categories overall and per group, P_greedy and
        P_sample histograms, examples, the policy's effect, and the run's parameters."""
        return self._client._run(report_json_call(probe_id, policy, examples, knobs))

    def rows(self, probe_id: str, *, category: str | Sequence[str] | None = None,
             group: str | Sequence[str] | None = None,
             status: str | Sequence[str] | None = None, columns: Sequence[str] | None = None,
             limit: int = 50, offset: int = 0) -> RowsPublic:
        """A page of annotated rows matching the filters (any of several values each), in
        input order; `.count` is the number of matches. BadRequestError names an unknown
        category, group or column."""
        return self._client._run(rows_call(probe_id, category=category, group=group,
                                            status=status, columns=columns, limit=limit,
                                            offset=offset))


class AsyncProbes:
    """Probe jobs on the server: `client.probes` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def create(self, dataset_id: str, *, exemplar_dataset_id: str | None = None,
                     model: str | None = None, engine: str | None = None,
                     **params: Any) -> ProbePublic:
        """Start probing a dataset; see `Probes.create`. Never retried."""
        return await self._client._run(create_call(
            dataset_id, exemplar_dataset_id=exemplar_dataset_id, model=model, engine=engine,
            params=params))

    async def get(self, probe_id: str) -> ProbePublic:
        """See `Probes.get`."""
        return await self._client._run(get_call(probe_id))

    async def list(self, *, limit: int | None = None, offset: int | None = None,
                   status: JobStatus | None = None) -> ProbesPublic:
        """See `Probes.list`."""
        return await self._client._run(list_call(limit, offset, status))

    async def cancel(self, probe_id: str) -> ProbePublic:
        """See `Probes.cancel`."""
        return await self._client._run(cancel_call(probe_id))

    def events(self, probe_id: str) -> AsyncIterator[ProbePublic]:
        """The job's states as the server pushes them, ending with the terminal one; see
        `Probes.events`."""
        return cast(AsyncIterator[ProbePublic], self._client._iterate(events_plan(probe_id)))

    async def wait(self, probe_id: str, *, progress: bool = False,
                   timeout: float | None = None, poll_interval: float = 1.0) -> ProbePublic:
        """Wait until the job ends; see `Probes.wait`. Cancelling the awaiting task (or
        Ctrl-C under `asyncio.run`) closes the bar and leaves the job running on the server.

        The timeout is also enforced as a cancel scope, so it holds even with a transport that
        ignores read timeouts (e.g. an in-process ASGI transport)."""
        import anyio

        seen: list[ProbePublic] = []
        with anyio.move_on_after(timeout):
            return await self._client._run(wait_plan(
                probe_id, progress=progress, timeout=timeout, poll_interval=poll_interval,
                seen=seen))
        raise wait_timeout(seen[-1] if seen else None, probe_id)

    @overload
    async def result(self, probe_id: str, *, path: None = None) -> pa.Table: ...
    @overload
    async def result(self, probe_id: str, *, path: str | os.PathLike[str]) -> Path: ...

    async def result(
        self, probe_id: str, *, path: str | os.PathLike[str] | None = None
    ) -> pa.Table | Path:
        """The annotated rows of a succeeded job: a `pyarrow.Table`, or, with `path`, the
        Parquet file streamed to disk and its Path. See `Probes.result`."""
        return await self._client._run(result_plan(probe_id, path))

    async def curated(self, probe_id: str, *, policy: str = "filter", format: str | None = None,
                      path: str | os.PathLike[str] | None = None,
                      drop_annotations: bool = False, all_rows: bool = False,
                      **knobs: Any) -> CuratedFile:
        """The curated dataset of a succeeded job under a policy; see `Probes.curated`."""
        return await self._client._run(curated_plan(
            probe_id, path, policy=policy, format=format, drop_annotations=drop_annotations,
            all_rows=all_rows, knobs=knobs))

    @overload
    async def report(self, probe_id: str, *, path: None = None, policy: str | None = None,
                     examples: int | None = None, **knobs: Any) -> str: ...
    @overload
    async def report(self, probe_id: str, *, path: str | os.PathLike[str],
                     policy: str | None = None, examples: int | None = None,
                     **knobs: Any) -> Path: ...

    async def report(self, probe_id: str, *, path: str | os.PathLike[str] | None = None,
                     policy: str | None = None, examples: int | None = None,
                     **knobs: Any) -> str | Path:
        """The job's HTML report; with `path`, saved there. See `Probes.report`."""
        return await self._client._run(report_plan(probe_id, path, policy=policy,
                                                   examples=examples, knobs=knobs))

    async def report_json(self, probe_id: str, *, policy: str | None = None,
                          examples: int | None = None, **knobs: Any) -> ReportPublic:
        """The numbers behind the report; see `Probes.report_json`."""
        return await self._client._run(report_json_call(probe_id, policy, examples, knobs))

    async def rows(self, probe_id: str, *, category: str | Sequence[str] | None = None,
                   group: str | Sequence[str] | None = None,
                   status: str | Sequence[str] | None = None,
                   columns: Sequence[str] | None = None, limit: int = 50,
                   offset: int = 0) -> RowsPublic:
        """A page of annotated rows matching the filters; see `Probes.rows`."""
        return await self._client._run(rows_call(
            probe_id, category=category, group=group, status=status, columns=columns,
            limit=limit, offset=offset))
