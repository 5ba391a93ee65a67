"""What the probe and fine-tune routers share: a job's event stream, a list page, and the
OpenAPI shapes of their file and event responses."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Query
from fastapi.responses import StreamingResponse
from slick_client.schemas import JobStatus

from slick_curator.api.deps import Services
from slick_curator.api.events import job_events
from slick_curator.errors import error_responses
from slick_curator.jobs.supervisor import Supervisor
from slick_curator.store.jobs import JobRecord, JobTable

RecordT = TypeVar("RecordT", bound=JobRecord)

PARQUET = "application/vnd.apache.parquet"

StatusFilter = Annotated[JobStatus | None, Query(description="Only this status.")]

EVENTS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
          "description": "`progress` events, then one `end` event."},
    **error_responses(401, 404),
}


def file_responses(description: str, media_type: str = PARQUET) -> dict[int | str, Any]:
    """The documented answers of a route that serves one finished job's file."""
    schema = ({"type": "string", "format": "binary"} if media_type == PARQUET
              else {"type": "string"})
    return {200: {"content": {media_type: {"schema": schema}}, "description": description},
            **error_responses(401, 404, 409)}


def public_page(table: JobTable[RecordT], limit: int, offset: int, status: str | None
                ) -> dict[str, Any]:
    """A list route's body: the page's jobs as the API shows them, and the total count."""
    records, count = table.page(limit, offset, status)
    return {"data": [record.public() for record in records], "count": count}


def events_of(services: Services, jobs: Supervisor, job_id: str) -> StreamingResponse:
    """The job's server-sent events (404 first when there is no such job)."""
    jobs.get_or_404(job_id)
    return job_events(jobs.table, job_id, heartbeat_s=services.settings.sse_heartbeat_s)
