"""Routes for probe jobs: create, list, get, follow (SSE), cancel, download the result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse
from slick_client.schemas import JobStatus, ProbeCreate, ProbePublic, ProbesPublic
from starlette.concurrency import run_in_threadpool

from slick_curator.api.deps import Limit, Offset, Services, ServicesDep
from slick_curator.errors import Conflict, NotFound, ServiceError, error_responses
from slick_curator.store import ProbeRecord

router = APIRouter(prefix="/v1/probes", tags=["probes"])

_POLL_S = 0.2
PARQUET = "application/vnd.apache.parquet"


def _get(services: Services, probe_id: str) -> ProbeRecord:
    record = services.store.probes.get(probe_id)
    if record is None:
        raise NotFound(f"no probe {probe_id!r}", param="probe_id")
    return record


@router.post("", status_code=202, response_model=ProbePublic,
             responses=error_responses(400, 401, 404, 422))
async def create_probe(body: ProbeCreate, services: ServicesDep) -> ProbePublic:
    """Start a probe of an uploaded dataset; it is queued and runs in the worker."""
    record = await run_in_threadpool(services.probes.create, body)
    return record.public()


@router.get("", response_model=ProbesPublic, responses=error_responses(401, 422))
def list_probes(services: ServicesDep, limit: Limit = 50, offset: Offset = 0,
                status: Annotated[JobStatus | None, Query(description="Only this status.")]
                = None) -> ProbesPublic:
    """List probes, newest first, optionally only one status."""
    records, count = services.store.probes.page(limit, offset, status)
    return ProbesPublic(data=[r.public() for r in records], count=count)


@router.get("/{probe_id}", response_model=ProbePublic, responses=error_responses(401, 404))
def get_probe(probe_id: str, services: ServicesDep) -> ProbePublic:
    """Get one probe: status, progress (done, total, rate, eta_s) and category counts."""
    return _get(services, probe_id).public()


@router.post("/{probe_id}/cancel", status_code=202, response_model=ProbePublic,
             responses=error_responses(401, 404, 409))
def cancel_probe(probe_id: str, services: ServicesDep) -> ProbePublic:
    """Cancel a queued or running probe (checkpointed shards are kept); 409 if finished."""
    return services.jobs.cancel(probe_id).public()


@router.get("/{probe_id}/result", response_class=FileResponse,
            responses={200: {"content": {PARQUET: {"schema": {"type": "string",
                                                               "format": "binary"}}},
                             "description": "The annotated Parquet file."},
                       **error_responses(401, 404, 409)})
def get_result(probe_id: str, services: ServicesDep) -> FileResponse:
    """Download the annotated Parquet of a succeeded probe (streamed from disk)."""
    record = _get(services, probe_id)
    if record.status != "succeeded":
        state = record.status
        if state == "running":
            state += f", {record.done} of {record.total} rows done"
        raise Conflict(f"probe {probe_id} has no result yet ({state}); the result is available "
                       "once its status is 'succeeded'", param="probe_id")
    path = services.store.paths.result(probe_id)
    if not path.is_file():
        raise ServiceError(f"the result file of probe {probe_id} is missing from the data dir")
    return FileResponse(path, media_type=PARQUET, filename=f"{probe_id}.parquet")


@router.get("/{probe_id}/events",
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "`progress` events, then one `end` event."},
                       **error_responses(401, 404)})
async def probe_events(probe_id: str, services: ServicesDep) -> StreamingResponse:
    """Follow a probe as server-sent events: `progress` on each change, then `end`."""
    _get(services, probe_id)
    return StreamingResponse(_events(services, probe_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _event(name: str, record: ProbeRecord) -> str:
    return f"event: {name}\ndata: {record.public().model_dump_json()}\n\n"


async def _events(services: Services, probe_id: str) -> AsyncIterator[str]:
    jobs, heartbeat = services.jobs, services.settings.sse_heartbeat_s
    seen_version, last_sent = -1, time.monotonic()
    while True:
        version = jobs.version(probe_id)
        if version != seen_version:
            seen_version = version
            record = await run_in_threadpool(services.store.probes.get, probe_id)
            if record is None or record.terminal:
                if record is not None:
                    yield _event("end", record)
                return
            yield _event("progress", record)
            last_sent = time.monotonic()
        elif time.monotonic() - last_sent >= heartbeat:
            yield ": heartbeat\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(_POLL_S)
