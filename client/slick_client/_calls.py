"""The client's behaviour as data (sans-I/O), written once for the sync and the async client.

A *plan* is a generator that yields steps and receives each step's result; errors of a step
are thrown into the plan where it yielded. Retries, downloads, waiting for a job and reading
its event stream are plans, so each is written once; `Client` and `AsyncClient` differ only in
how they perform the few I/O primitives (`Send`, `Read`, `Close`, `Save`, `Lines`,
`NextLine`, `Sleep`, `Offload`).

`Call` and `Download` are composite steps: the driver expands them into plans of primitives
(`slick_client._transfer`), so a resource says what to fetch, not how to retry it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from slick_client._uploads import UploadBody

T = TypeVar("T")

__all__ = ["Call", "Close", "Download", "Driver", "Emit", "Lines", "NextLine", "Offload",
           "OnResponse", "Plan", "Read", "Save", "Send", "Sleep"]


def _body(response: httpx.Response) -> httpx.Response:
    return response


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its response; `retry`: whether it may be sent again
    (idempotent ones only). A `stream` call's result is the open response (parse is not
    applied); its read timeout is cut to `deadline` (a time.monotonic value)."""

    method: str
    path: str
    retry: bool
    parse: Callable[[httpx.Response], T] = _body  # type: ignore[assignment]
    params: dict[str, Any] | None = None
    json: Any = None
    body: UploadBody | None = None  # streamed request body (uploads)
    headers: dict[str, str] | None = None
    stream: bool = False
    deadline: float | None = None


@dataclass(frozen=True)
class Download:
    """GET `path` into the file `target`, whole or not at all; result: the closed response."""

    path: str
    params: dict[str, Any]
    target: Path


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """A value for the caller iterating the plan (`events()`); result: None."""

    value: Any


@dataclass(frozen=True)
class Offload:
    """`function(*args)`, off the event loop in the async client (slow local work)."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Send:
    """Send `call` to `url` with these headers and timeout; result: the response (open when
    the call streams), or httpx's error."""

    call: Call[Any]
    url: str
    headers: dict[str, str]
    timeout: httpx.Timeout


@dataclass(frozen=True)
class OnResponse:
    """A primitive on a response that `Send` opened as a stream."""

    response: httpx.Response


class Read(OnResponse):
    """Read its whole body."""


class Close(OnResponse):
    """Close it, and give back its connection."""


class Lines(OnResponse):
    """Result: an iterator (sync or async, to be given to `NextLine`) of the body's lines."""


@dataclass(frozen=True)
class Save(OnResponse):
    """Write its body to `target` through a temp file."""

    target: Path


@dataclass(frozen=True)
class NextLine:
    """Result: the next line of a `Lines` iterator, None at the end of the body."""

    lines: Any


Step = Call[Any] | Download | Sleep | Emit | Offload | Send | OnResponse | NextLine
Plan = Generator[Step, Any, T]


@dataclass
class Driver:
    """Steps a plan, and the plans its composite steps expand into, down to I/O primitives.

    Iterate it for the primitives; set `value` (or `error`) to each one's outcome before the
    next. `result` is what the outermost plan returned. Streamed responses not closed by
    their plan are in `open` when it ends, for the client to close.
    """

    plan: Plan[Any]
    expand: Callable[[Step], Plan[Any] | None]
    value: Any = None
    error: BaseException | None = None
    result: Any = None
    open: list[httpx.Response] = field(default_factory=list)
    _stack: list[Plan[Any]] = field(default_factory=list)
    _last: Step | None = None

    def __iter__(self) -> Driver:
        self._stack = [self.plan]
        return self

    def __next__(self) -> Step:
        self._note_outcome()
        while self._stack:
            plan = self._stack[-1]
            try:
                if self.error is not None:
                    error, self.error = self.error, None
                    step = plan.throw(error)
                else:
                    value, self.value = self.value, None
                    step = plan.send(value)
            except StopIteration as done:
                self._stack.pop()
                self.value = done.value
                continue
            except BaseException as exc:
                self._stack.pop()
                if not self._stack:
                    raise
                self.error = exc
                continue
            nested = self.expand(step)
            if nested is None:
                self._last = step
                return step
            self._stack.append(nested)
        self.result = self.value
        raise StopIteration

    def answer(self, perform: Callable[[Step], Any], step: Step) -> None:
        """Perform `step` in this thread: its result, or its error, goes to the plan."""
        try:
            self.value = perform(step)
        except BaseException as exc:  # noqa: BLE001 - thrown into the plan
            self.error = exc

    def close(self) -> None:
        """Close every plan still running (innermost first): they run their cleanup."""
        while self._stack:
            self._stack.pop().close()

    def _note_outcome(self) -> None:
        """Keep track of the streamed responses the last primitive opened or closed."""
        step, self._last = self._last, None
        if self.error is not None:
            return
        if isinstance(step, Send) and step.call.stream:
            self.open.append(self.value)
        elif isinstance(step, Close) and step.response in self.open:
            self.open.remove(step.response)
