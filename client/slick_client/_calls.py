"""The client's behaviour as data (sans-I/O), written once for the sync and the async client.

A `Call` is one request and how to read its response. A *plan* is a generator that yields
calls (and `Sleep`s) and receives each call's parsed result, so multi-step behaviour such as
waiting for a job is written here once; `run_plan` and `arun_plan` drive a plan with a client's
own I/O. Errors of a call are thrown into the plan at the point that yielded it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from slick_client import _retry
from slick_client._uploads import UploadBody

T = TypeVar("T")

__all__ = ["Call", "Plan", "Sleep", "arun_plan", "run_plan"]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request: `retry` says whether it may be sent again (idempotent ones only)."""

    method: str
    path: str
    retry: bool
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    body: UploadBody | None = None  # streamed request body (uploads)


@dataclass(frozen=True)
class Sleep:
    seconds: float


Plan = Generator["Call[Any] | Sleep", Any, T]


class _Driver:
    """What both drivers keep: the plan, what it gets next (a value or an error to throw at
    it), and what it returned."""

    def __init__(self, plan: Plan[Any]) -> None:
        self.plan = plan
        self.value: Any = None
        self.error: BaseException | None = None
        self.result: Any = None

    def next_step(self) -> Call[Any] | Sleep | None:
        """The plan's next step, or None once it has returned."""
        try:
            if self.error is not None:
                error, self.error = self.error, None
                return self.plan.throw(error)
            return self.plan.send(self.value)
        except StopIteration as done:
            self.result = done.value
            return None


def run_plan(plan: Plan[T], call: Callable[[Call[Any]], Any]) -> T:
    """Drive `plan`, sending its calls with `call` and sleeping in this thread."""
    driver = _Driver(plan)
    with contextlib.closing(plan):
        while (step := driver.next_step()) is not None:
            try:
                driver.value = (_retry.sleep(step.seconds) if isinstance(step, Sleep)
                                else call(step))
            except BaseException as exc:  # noqa: BLE001 - the plan re-raises it
                driver.error = exc
    return driver.result


async def arun_plan(plan: Plan[T], call: Callable[[Call[Any]], Awaitable[Any]]) -> T:
    """Drive `plan` on the event loop: calls awaited, sleeps as `anyio.sleep`."""
    driver = _Driver(plan)
    with contextlib.closing(plan):
        while (step := driver.next_step()) is not None:
            try:
                if isinstance(step, Sleep):
                    driver.value = await _retry.asleep(step.seconds)
                else:
                    driver.value = await call(step)
            except BaseException as exc:  # noqa: BLE001 - the plan re-raises it
                driver.error = exc
    return driver.result
