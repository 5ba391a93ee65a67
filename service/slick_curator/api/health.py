"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from slick_curator.api.deps import BearerDep, ServicesDep, check_key
from slick_curator.errors import error_responses
from slick_curator.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: 200 while the process runs."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The default engine is not loaded yet."}})
def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 once the worker has loaded the default engine, else 503."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    jobs = services.jobs
    if jobs.ready:
        return JSONResponse({"status": "ready", "engine": jobs.default_key.engine,
                             "model": jobs.default_key.model})
    body = {"status": "loading", "engine": jobs.default_key.engine,
            "model": jobs.default_key.model}
    if jobs.load_error:
        body.update(status="error", error=jobs.load_error)
    return JSONResponse(body, status_code=503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus text format."},
                       **error_responses(401)})
def metrics(services: ServicesDep, credentials: BearerDep) -> Response:
    """Prometheus metrics (needs the API key when SLICK_METRICS_PUBLIC is false)."""
    if not services.settings.metrics_public:
        check_key(services.settings, credentials)
    m = services.metrics
    m.set_job_counts(services.store.probes.counts_by_status())
    m.queue_depth.set(services.jobs.queue_depth)
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)
