"""Following a probe job, as plans (see `_calls`): its event stream, and `wait` (the stream,
then polling if the stream breaks), written once for the sync and async `client.probes`."""

from __future__ import annotations

import time
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from slick_client._base import TERMINAL_STATUSES, check_deadline
from slick_client._calls import Call, Close, Emit, Lines, NextLine, Plan, Sleep
from slick_client._errors import (
    APIError,
    AuthenticationError,
    JobFailedError,
    SlickError,
    TransportError,
)
from slick_client._probe_calls import get_call, probe_path
from slick_client._progress import ProgressBar
from slick_client._sse import HEARTBEAT, ServerSentEvent, SSEDecoder
from slick_client._transfer import transport_error
from slick_client.schemas import ProbePublic

__all__ = ["events_plan", "job_of", "stream_broke", "wait_plan"]

_JOB_EVENTS = frozenset({"progress", "end", "message"})
END = object()  # what `next_event` gives once the stream is over


@dataclass
class EventStream:
    """An open event stream of one job."""

    response: httpx.Response
    lines: Any  # the client's line iterator (see `Lines`)
    decoder: SSEDecoder = field(default_factory=SSEDecoder)
    ended: bool = False


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


def open_events(probe_id: str, deadline: float | None) -> Plan[EventStream]:
    """GET the job's events; the read timeout is cut to `deadline`."""
    response = yield Call("GET", probe_path(probe_id, "/events"), retry=True, stream=True,
                          headers={"Accept": "text/event-stream"}, deadline=deadline)
    lines = yield Lines(response)
    return EventStream(response, lines)


def next_event(stream: EventStream) -> Plan[Any]:
    """The next job state, None for a heartbeat (to check deadlines), END once it is over."""
    while not stream.ended:
        try:
            line = yield NextLine(stream.lines)
        except httpx.RequestError as exc:
            raise transport_error(exc) from exc
        if line is None:
            stream.ended = True
            break
        item = stream.decoder.feed(line)
        if item is HEARTBEAT:
            return None
        if isinstance(item, ServerSentEvent):
            stream.ended = item.event == "end"
            job = job_of(item, stream.response.request)
            if job is not None:
                return job
    return END


def events_plan(probe_id: str) -> Plan[None]:
    """Emits the job's states as the server pushes them, ending with the terminal one."""
    stream = yield from open_events(probe_id, None)
    while (item := (yield from next_event(stream))) is not END:
        if item is not None:
            yield Emit(item)
    yield Close(stream.response)


def wait_plan(probe_id: str, *, progress: bool, timeout: float | None, poll_interval: float,
              seen: MutableSequence[ProbePublic]) -> Plan[ProbePublic]:
    """The job once it ended well (see `Probes.wait`); every state seen also goes to `seen`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = ProgressBar(enabled=progress)
    try:
        job = yield from _follow(probe_id, deadline, bar, poll_interval, seen)
    except KeyboardInterrupt:
        bar.close()
        bar.write(f"interrupted: probe {probe_id} keeps running on the server")
        raise
    finally:
        bar.close()
    if job.status != "succeeded":
        raise JobFailedError(job)
    return job


def _follow(probe_id: str, deadline: float | None, bar: ProgressBar, poll_interval: float,
            seen: MutableSequence[ProbePublic]) -> Plan[ProbePublic]:
    """The stream, then polls if the stream broke, until the job is terminal."""
    job: ProbePublic | None = None
    try:
        stream = yield from open_events(probe_id, deadline)
        while (item := (yield from next_event(stream))) is not END:
            if item is not None:
                job = item
                seen.append(job)
                bar.update(job)
                if job.status in TERMINAL_STATUSES:
                    break
            check_deadline(deadline, job, probe_id)
        yield Close(stream.response)
    except SlickError as exc:
        if not stream_broke(exc):
            raise
    polled = False
    while job is None or job.status not in TERMINAL_STATUSES:
        if polled:
            left = None if deadline is None else deadline - time.monotonic()
            yield Sleep(poll_interval if left is None else max(0.0, min(poll_interval, left)))
        check_deadline(deadline, job, probe_id)
        job = yield get_call(probe_id)
        seen.append(job)
        polled = True
        bar.update(job)
    return job
