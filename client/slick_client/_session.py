"""What a resource (`client.probes`, `client.datasets`, `client.finetunes`) needs of its client:
a plan (`_calls`) carried out, or the values it emits. Resources depend on these protocols,
not on the client classes that hold them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol, TypeVar

from slick_client._calls import Call, Plan

T = TypeVar("T")

__all__ = ["AsyncSession", "Session"]


class Session(Protocol):
    """The synchronous `Client` as its resources see it."""

    def _run(self, work: Plan[T] | Call[T]) -> T: ...

    def _iterate(self, plan: Plan[None]) -> Iterator[Any]: ...


class AsyncSession(Protocol):
    """The `AsyncClient` as its resources see it."""

    async def _run(self, work: Plan[T] | Call[T]) -> T: ...

    def _iterate(self, plan: Plan[None]) -> AsyncIterator[Any]: ...
