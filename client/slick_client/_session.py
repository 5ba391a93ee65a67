"""What a resource (`client.probes`, `client.datasets`, `client.finetunes`) needs of its client:
a request with retries, a `Call` or plan sent (`_calls`), a download with retries, the retry
budget, and the timeout of a deadline-bound stream. Resources depend on these protocols, not
on the client classes that hold them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from slick_client._calls import Call, Plan
from slick_client._uploads import UploadBody

T = TypeVar("T")

__all__ = ["AsyncSession", "Session"]


class Session(Protocol):
    """The synchronous `Client` as its resources see it."""

    max_retries: int

    def _request(self, method: str, path: str, *, retry: bool,
                 params: dict[str, Any] | None = None, json: Any = None,
                 body: UploadBody | None = None, headers: dict[str, str] | None = None,
                 stream: bool = False, timeout: httpx.Timeout | None = None) -> httpx.Response:
        ...

    def _stream_timeout(self, deadline: float | None) -> httpx.Timeout: ...

    def _download(self, path: str, query: dict[str, Any], target: Path) -> httpx.Response: ...

    def _call(self, call: Call[T]) -> T: ...

    def _run(self, plan: Plan[T]) -> T: ...


class AsyncSession(Protocol):
    """The `AsyncClient` as its resources see it."""

    max_retries: int

    async def _request(self, method: str, path: str, *, retry: bool,
                       params: dict[str, Any] | None = None, json: Any = None,
                       body: UploadBody | None = None, headers: dict[str, str] | None = None,
                       stream: bool = False,
                       timeout: httpx.Timeout | None = None) -> httpx.Response:
        ...

    def _stream_timeout(self, deadline: float | None) -> httpx.Timeout: ...

    async def _download(self, path: str, query: dict[str, Any], target: Path
                        ) -> httpx.Response: ...

    async def _call(self, call: Call[T]) -> T: ...

    async def _run(self, plan: Plan[T]) -> T: ...
