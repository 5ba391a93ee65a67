"""When to retry and how long to wait. Pure functions, shared by the sync and async clients.

Only idempotent calls are retried (GETs, and dataset uploads, which the server stores once per
content hash), and only after a transport failure or a 502/503/504. Creating a probe is never
retried: a lost answer could otherwise start the same job twice.
"""

from __future__ import annotations

import email.utils
import random
import time

import httpx

RETRY_STATUSES = frozenset({502, 503, 504})
INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0


def should_retry_status(status_code: int) -> bool:
    """Whether an idempotent call that got this status may be tried again."""
    return status_code in RETRY_STATUSES


def backoff_delay(attempt: int) -> float:
    """Seconds before retry number `attempt` (0-based): exponential, capped, with jitter.

    Full jitter over the upper half keeps clients that failed together from retrying together.
    """
    ceiling = min(MAX_DELAY_S, INITIAL_DELAY_S * 2.0**attempt)
    return ceiling * (0.5 + random.random() / 2)


def retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After (seconds or an HTTP date) in seconds, capped; None if absent."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def delay_for(attempt: int, response: httpx.Response | None) -> float:
    """Retry-After when the server gave one, else the backoff for this attempt."""
    if response is not None:
        after = retry_after(response)
        if after is not None:
            return after
    return backoff_delay(attempt)


def sleep(seconds: float) -> None:
    """Block for `seconds` (one place, so tests can make retries instant)."""
    if seconds > 0:
        time.sleep(seconds)


async def asleep(seconds: float) -> None:
    """Async twin of `sleep`, on whatever event loop runs (asyncio or trio)."""
    import anyio

    if seconds > 0:
        await anyio.sleep(seconds)
