"""Routes for datasets: upload (streamed, idempotent), get, list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from slick_client.schemas import DatasetPublic, DatasetsPublic
from starlette.concurrency import run_in_threadpool

from slick_curator.api.deps import Limit, Offset, ServicesDep
from slick_curator.api.uploads import RAW_TYPES, receive_upload
from slick_curator.errors import NotFound, error_responses
from slick_curator.probing.reading import ColumnMap

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

Column = Annotated[str | None, Query(min_length=1, max_length=256)]

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "The dataset: a multipart `file` field, or the raw file as the body "
                       "(gzip accepted, as Content-Encoding or a .gz file).",
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}},
            **{media: {"schema": {"type": "string", "format": "binary"}}
               for media in RAW_TYPES},
        },
    }
}


@router.post(
    "", status_code=201, response_model=DatasetPublic, openapi_extra=_BODY_DOC,
    responses={200: {"model": DatasetPublic, "description": "Already stored: the same dataset."},
               **error_responses(400, 401, 413, 415, 422)},
)
async def upload_dataset(
    request: Request,
    response: Response,
    services: ServicesDep,
    name: Annotated[str | None, Query(max_length=255, description="File name for a raw body.")]
    = None,
    format: Literal["jsonl", "json", "csv", "parquet"] | None = None,
    on_error: Literal["skip", "fail"] = "skip",
    question_column: Column = None,
    answer_column: Column = None,
    answers_column: Column = None,
    messages_column: Column = None,
    id_column: Column = None,
    group_column: Column = None,
) -> DatasetPublic:
    """Upload a dataset (multipart `file`, or a raw JSONL/JSON/CSV/Parquet body); idempotent."""
    default = ColumnMap()
    columns = ColumnMap(
        question=question_column or default.question, answer=answer_column or default.answer,
        answers=answers_column or default.answers, messages=messages_column or default.messages,
        id=id_column or default.id, group=group_column)
    upload = await receive_upload(
        request, staging=services.store.paths.staging,
        limit=services.settings.max_upload_bytes, format=format, name=name)
    record, created = await run_in_threadpool(services.datasets.register, upload, columns,
                                              on_error)
    response.status_code = 201 if created else 200
    return record.public()


@router.get("", response_model=DatasetsPublic, responses=error_responses(401, 422))
def list_datasets(services: ServicesDep, limit: Limit = 50, offset: Offset = 0) -> DatasetsPublic:
    """List uploaded datasets, newest first."""
    records, count = services.store.datasets.page(limit, offset)
    return DatasetsPublic(data=[r.public() for r in records], count=count)


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(401, 404))
def get_dataset(dataset_id: str, services: ServicesDep) -> DatasetPublic:
    """Get one dataset: rows, valid rows, groups and row errors."""
    record = services.store.datasets.get(dataset_id)
    if record is None:
        raise NotFound(f"no dataset {dataset_id!r}", param="dataset_id")
    return record.public()
