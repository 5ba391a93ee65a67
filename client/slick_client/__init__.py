"""Client for the slick-curator service.

    from slick_client import Client
    with Client("http://gpu-box:8000", api_key=KEY) as c:
        ds = c.datasets.upload("train.jsonl")
        job = c.probes.create(ds.id, mode="adaptive")
        job = c.probes.wait(job.id, progress=True)
        table = c.probes.result(job.id)

Installing it pulls httpx, pydantic, pyarrow and tqdm only: no torch, vllm or duckdb.
"""

from slick_client._client import AsyncClient, Client
from slick_client._curation import CuratedFile
from slick_client._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FinetuneFailedError,
    InvalidParamsError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlickError,
    TransportError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from slick_client._version import __version__
from slick_client.schemas import (
    CurationParams,
    CurationSummary,
    DatasetPublic,
    DatasetsPublic,
    ErrorDetail,
    FinetuneCreate,
    FinetuneParams,
    FinetunePublic,
    FinetuneReportPublic,
    FinetunesPublic,
    ProbeCreate,
    ProbeParams,
    ProbePublic,
    ProbesPublic,
    Progress,
    ReportPublic,
    RowErrorPublic,
    RowsPublic,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "CuratedFile",
    "CurationParams",
    "CurationSummary",
    "DatasetPublic",
    "DatasetsPublic",
    "ErrorDetail",
    "FinetuneCreate",
    "FinetuneFailedError",
    "FinetuneParams",
    "FinetunePublic",
    "FinetuneReportPublic",
    "FinetunesPublic",
    "InvalidParamsError",
    "JobFailedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProbeCreate",
    "ProbeParams",
    "ProbePublic",
    "ProbesPublic",
    "Progress",
    "RateLimitError",
    "ReportPublic",
    "ResponseValidationError",
    "RowErrorPublic",
    "RowsPublic",
    "ServerError",
    "SlickError",
    "TransportError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "__version__",
]
