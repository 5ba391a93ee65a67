"""Routes for probe jobs: create, list, get, follow (SSE), cancel, download the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, StreamingResponse
from slick_client.schemas import JobStatus, ProbeCreate, ProbePublic, ProbesPublic
from starlette.concurrency import run_in_threadpool

from slick_curator.api.deps import Limit, Offset, Services, ServicesDep
from slick_curator.api.events import job_events
from slick_curator.errors import NotFound, error_responses
from slick_curator.store import ProbeRecord

router = APIRouter(prefix="/v1/probes", tags=["probes"])

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
    path = services.results.probe_result(probe_id)
    return FileResponse(path, media_type=PARQUET, filename=f"{probe_id}.parquet")


@router.get("/{probe_id}/events",
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "`progress` events, then one `end` event."},
                       **error_responses(401, 404)})
async def probe_events(probe_id: str, services: ServicesDep) -> StreamingResponse:
    """Follow a probe as server-sent events: `progress` on each change, then `end`."""
    _get(services, probe_id)
    return job_events(services.store.probes, probe_id,
                      heartbeat_s=services.settings.sse_heartbeat_s)
