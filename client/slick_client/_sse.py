"""A server-sent events decoder (the WHATWG event-stream format), fed one line at a time.

Only what the probe event stream needs: `event`, `data` (multi-line data joined with "\\n"),
`id`, `retry`, and comment lines, which servers send as heartbeats and which the decoder reports
as `HEARTBEAT` so a waiter can check its deadline while nothing else happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["HEARTBEAT", "SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class _Heartbeat:
    def __repr__(self) -> str:
        return "HEARTBEAT"


HEARTBEAT: Final = _Heartbeat()


class SSEDecoder:
    """Turns lines (without their line ending) into events.

    `feed(line)` returns a `ServerSentEvent` when a blank line completes one, `HEARTBEAT` for a
    comment line, and None otherwise. An event left incomplete when the stream ends is dropped,
    as the format requires.
    """

    def __init__(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | _Heartbeat | None:
        """Consume one line; see the class docstring for what comes back."""
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return HEARTBEAT
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = None, []
        if not data and event is None:
            return None
        return ServerSentEvent(event=event or "message", data="\n".join(data), id=self._id,
                               retry=self._retry)
