"""Server-sent events of a job (probe or fine-tune): its public state on every stored change,
then one `end` event with its terminal state; a comment line as heartbeat while nothing moves.

The stream watches the job table's version counter (bumped by every write of the job's row),
so it reads the store only when something changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from slick_curator.store.jobs import JobRecord, JobTable

_POLL_S = 0.2


def job_events(table: JobTable, job_id: str, *, heartbeat_s: float) -> StreamingResponse:
    return StreamingResponse(_events(table, job_id, heartbeat_s), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(name: str, record: JobRecord) -> str:
    return f"event: {name}\ndata: {record.public().model_dump_json()}\n\n"


async def _events(table: JobTable, job_id: str, heartbeat_s: float) -> AsyncIterator[str]:
    seen_version, last_sent = -1, time.monotonic()
    while True:
        version = table.version(job_id)
        if version != seen_version:
            seen_version = version
            record = await run_in_threadpool(table.get, job_id)
            if record is None or record.terminal:
                if record is not None:
                    yield _event("end", record)
                return
            yield _event("progress", record)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= heartbeat_s:
            yield ": heartbeat\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(_POLL_S)
