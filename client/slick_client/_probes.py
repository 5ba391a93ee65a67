"""`client.probes`: create, follow, cancel probe jobs and fetch their results."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import httpx

from slick_client import _retry
from slick_client._base import (
    TERMINAL_STATUSES,
    check_deadline,
    describe_transport_error,
    path_id,
)
from slick_client._curation import CuratedFile, curated_query, report_query
from slick_client._errors import (
    APIError,
    AuthenticationError,
    JobFailedError,
    SlickError,
    TransportError,
)
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
from slick_client._progress import ProgressBar
from slick_client._session import Session
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


__all__ = ["Probes"]

_JOB_EVENTS = frozenset({"progress", "end", "message"})


def job_of(event: ServerSentEvent, request: httpx.Request) -> ProbePublic | None:
    """The probe state an event carries; None for events of other kinds."""
    if event.event not in _JOB_EVENTS or not event.data.strip():
        return None
    try:
        return ProbePublic.model_validate_json(event.data)
    except ValueError as exc:
        raise TransportError(f"malformed {event.event!r} event: {exc}", request=request) from exc


def stream_broke(exc: SlickError) -> bool:
    """Whether `wait` may fall back to polling after this error on the event stream.

    A bad key fails the polls just the same, so it is raised at once; anything else (a proxy
    that drops streams, a 404 from a server without the events route, a reset) gets polling,
    which raises on its own if the job really is not there.
    """
    return isinstance(exc, (TransportError, APIError)) and not isinstance(
        exc, AuthenticationError
    )


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
        return self._client._call(create_call(dataset_id, exemplar_dataset_id=exemplar_dataset_id,
                                              model=model, engine=engine, params=params))

    def get(self, probe_id: str) -> ProbePublic:
        """The job's current state (NotFoundError if there is none)."""
        return self._client._call(get_call(probe_id))

    def list(self, *, limit: int | None = None, offset: int | None = None,
             status: JobStatus | None = None) -> ProbesPublic:
        """A page of jobs, newest first, optionally only those with `status`."""
        return self._client._call(list_call(limit, offset, status))

    def cancel(self, probe_id: str) -> ProbePublic:
        """Ask the server to cancel the job; returns its state (it may take a moment to stop)."""
        return self._client._call(cancel_call(probe_id))

    def events(self, probe_id: str) -> Iterator[ProbePublic]:
        """The job's states as the server pushes them (server-sent events), ending with the
        terminal one. Close the iterator (or leave the loop) to stop listening."""
        for job in self._event_stream(probe_id, deadline=None):
            if job is not None:
                yield job

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
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(enabled=progress)
        try:
            job = self._follow(probe_id, deadline, bar, poll_interval)
        except KeyboardInterrupt:
            bar.close()
            bar.write(f"interrupted: probe {probe_id} keeps running on the server")
            raise
        finally:
            bar.close()
        if job.status != "succeeded":
            raise JobFailedError(job)
        return job

    def _follow(self, probe_id: str, deadline: float | None, bar: ProgressBar,
                poll_interval: float) -> ProbePublic:
        """The stream, then polls if the stream broke, until the job is terminal."""
        job: ProbePublic | None = None
        try:
            with contextlib.closing(self._event_stream(probe_id, deadline)) as stream:
                for item in stream:
                    if item is not None:
                        job = item
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
                _retry.sleep(poll_interval if left is None else min(poll_interval, left))
            check_deadline(deadline, job, probe_id)
            job = self.get(probe_id)
            polled = True
            bar.update(job)
        return job

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
        if path is None:
            return self._client._call(result_call(probe_id))
        self._client._download(probe_path(probe_id, "/result"), {}, Path(path))
        return Path(path)

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
        query = curated_query(policy, format, drop_annotations, all_rows, knobs)
        if path is None:
            return self._client._call(curated_call(probe_id, query))
        response = self._client._download(probe_path(probe_id, "/curated"), query, Path(path))
        return CuratedFile.from_response(response, path=Path(path))

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
        query = report_query(policy, examples, knobs)
        if path is None:
            return self._client._call(report_call(probe_id, query))
        self._client._download(probe_path(probe_id, "/report"), query, Path(path))
        return Path(path)

    def report_json(self, probe_id: str, *, policy: str | None = None,
                    examples: int | None = None, **knobs: Any) -> ReportPublic:
        """The numbers behind the report: categories overall and per group, P_greedy and
        P_sample histograms, examples, the policy's effect, and the run's parameters."""
        return self._client._call(report_json_call(probe_id, policy, examples, knobs))

    def rows(self, probe_id: str, *, category: str | Sequence[str] | None = None,
             group: str | Sequence[str] | None = None,
             status: str | Sequence[str] | None = None, columns: Sequence[str] | None = None,
             limit: int = 50, offset: int = 0) -> RowsPublic:
        """A page of annotated rows matching the filters (any of several values each), in
        input order; `.count` is the number of matches. BadRequestError names an unknown
        category, group or column."""
        return self._client._call(rows_call(probe_id, category=category, group=group,
                                            status=status, columns=columns, limit=limit,
                                            offset=offset))

    def _event_stream(
        self, probe_id: str, deadline: float | None
    ) -> Generator[ProbePublic | None, None, None]:
        """Job states from the event stream; None for each heartbeat (to check deadlines)."""
        response = self._client._request(
            "GET", f"/v1/probes/{path_id(probe_id)}/events", retry=True, stream=True,
            headers={"Accept": "text/event-stream"},
            timeout=self._client._stream_timeout(deadline),
        )
        decoder = SSEDecoder()
        try:
            for line in response.iter_lines():
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
            response.close()
