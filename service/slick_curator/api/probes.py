"""Routes for probe jobs: create, list, get, follow (SSE), cancel, download the result."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, StreamingResponse
from slick_client.schemas import ProbeCreate, ProbePublic, ProbesPublic
from starlette.concurrency import run_in_threadpool

from slick_curator.api import job_routes
from slick_curator.api.deps import Limit, Offset, ServicesDep
from slick_curator.errors import error_responses

router = APIRouter(prefix="/v1/probes", tags=["probes"])


@router.post("", status_code=202, response_model=ProbePublic,
             responses=error_responses(400, 401, 404, 422))
async def create_probe(body: ProbeCreate, services: ServicesDep) -> ProbePublic:
    """Start a probe of an uploaded dataset; it is queued and runs in the worker."""
    return (await run_in_threadpool(services.probes.create, body)).public()


@router.get("", response_model=ProbesPublic, responses=error_responses(401, 422))
def list_probes(services: ServicesDep, limit: Limit = 50, offset: Offset = 0,
                status: job_routes.StatusFilter = None) -> ProbesPublic:
    """List probes, newest first, optionally only one status."""
    return ProbesPublic(**job_routes.public_page(services.store.probes, limit, offset, status))


@router.get("/{probe_id}", response_model=ProbePublic, responses=error_responses(401, 404))
def get_probe(probe_id: str, services: ServicesDep) -> ProbePublic:
    """Get one probe: status, progress (done, total, rate, eta_s) and category counts."""
    return services.jobs.get_or_404(probe_id).public()


@router.post("/{probe_id}/cancel", status_code=202, response_model=ProbePublic,
             responses=error_responses(401, 404, 409))
def cancel_probe(probe_id: str, services: ServicesDep) -> ProbePublic:
    """Cancel a queued or running probe (checkpointed shards are kept); 409 if finished."""
    return services.jobs.cancel(probe_id).public()


@router.get("/{probe_id}/result", response_class=FileResponse,
            responses=job_routes.file_responses("The annotated Parquet file."))
def get_result(probe_id: str, services: ServicesDep) -> FileResponse:
    """Download the annotated Parquet of a succeeded probe (streamed from disk)."""
    path = services.results.probe_result(probe_id)
    return FileResponse(path, media_type=job_routes.PARQUET, filename=f"{probe_id}.parquet")


@router.get("/{probe_id}/events", responses=job_routes.EVENTS_RESPONSES)
async def probe_events(probe_id: str, services: ServicesDep) -> StreamingResponse:
    """Follow a probe as server-sent events: `progress` on each change, then `end`."""
    return job_routes.events_of(services, services.jobs, probe_id)
