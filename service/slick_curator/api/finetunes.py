"""Routes for fine-tune-and-verify jobs: create, list, get, cancel, report, predictions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from slick_client.schemas import (
    FinetuneCreate,
    FinetunePublic,
    FinetuneReportPublic,
    FinetunesPublic,
)
from starlette.concurrency import run_in_threadpool

from slick_curator.api import job_routes
from slick_curator.api.deps import Limit, Offset, ServicesDep
from slick_curator.errors import error_responses
from slick_curator.finetune.report import CSP
from slick_curator.finetune.runner import PREDICTIONS, REPORT_HTML, REPORT_JSON

router = APIRouter(prefix="/v1/finetunes", tags=["finetunes"])


@router.post("", status_code=202, response_model=FinetunePublic,
             responses=error_responses(400, 401, 404, 409, 422))
async def create_finetune(body: FinetuneCreate, services: ServicesDep) -> FinetunePublic:
    """Fine-tune the probed model on each variant and evaluate it; queued, runs off-process."""
    return (await run_in_threadpool(services.finetunes.create, body)).public()


@router.get("", response_model=FinetunesPublic, responses=error_responses(401, 422))
def list_finetunes(services: ServicesDep, limit: Limit = 50, offset: Offset = 0,
                   status: job_routes.StatusFilter = None) -> FinetunesPublic:
    """List fine-tunes, newest first, optionally only one status."""
    return FinetunesPublic(**job_routes.public_page(services.store.finetunes, limit, offset,
                                                    status))


@router.get("/{finetune_id}", response_model=FinetunePublic,
            responses=error_responses(401, 404))
def get_finetune(finetune_id: str, services: ServicesDep) -> FinetunePublic:
    """One fine-tune: status, progress (steps and rows done of total, rate, ETA, stage)."""
    return services.finetune_jobs.get_or_404(finetune_id).public()


@router.get("/{finetune_id}/events", responses=job_routes.EVENTS_RESPONSES)
async def finetune_events(finetune_id: str, services: ServicesDep) -> StreamingResponse:
    """Follow a fine-tune as server-sent events: `progress` on each change, then `end`."""
    return job_routes.events_of(services, services.finetune_jobs, finetune_id)


@router.post("/{finetune_id}/cancel", status_code=202, response_model=FinetunePublic,
             responses=error_responses(401, 404, 409))
def cancel_finetune(finetune_id: str, services: ServicesDep) -> FinetunePublic:
    """Cancel a queued or running fine-tune (409 if it already finished)."""
    return services.finetune_jobs.cancel(finetune_id).public()


@router.get("/{finetune_id}/report", response_class=HTMLResponse,
            responses=job_routes.file_responses("One self-contained HTML page.", "text/html"))
def get_report(finetune_id: str, services: ServicesDep) -> HTMLResponse:
    """The comparison report as one HTML page (inline CSS and SVG; opens offline)."""
    html = services.results.finetune_output(finetune_id, REPORT_HTML).read_text("utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                       "X-Content-Type-Options": "nosniff"})


@router.get("/{finetune_id}/report.json", response_model=FinetuneReportPublic,
            responses=error_responses(401, 404, 409))
def get_report_json(finetune_id: str, services: ServicesDep) -> FinetuneReportPublic:
    """The numbers behind the report: metrics per variant, checkpoint and category."""
    text = services.results.finetune_output(finetune_id, REPORT_JSON).read_text("utf-8")
    return FinetuneReportPublic.model_validate_json(text)


@router.get("/{finetune_id}/predictions", response_class=FileResponse,
            responses=job_routes.file_responses("Per-example predictions of every variant."))
def get_predictions(finetune_id: str, services: ServicesDep) -> FileResponse:
    """Every variant's answer to every evaluation question at both checkpoints (Parquet)."""
    path = services.results.finetune_output(finetune_id, PREDICTIONS)
    return FileResponse(path, media_type=job_routes.PARQUET,
                        filename=f"{finetune_id}.predictions.parquet")
