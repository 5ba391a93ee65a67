"""What a resource (`client.probes`, `client.datasets`, `client.finetunes`) needs of its client:
one call with retries, the retry budget, and the timeout of a deadline-bound stream. Resources
depend on these protocols, not on the client classes that hold them."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from slick_client._uploads import UploadBody

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
