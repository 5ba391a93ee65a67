"""What the sync and async clients share: configuration, URLs, headers, request payloads and
response parsing. No I/O happens here."""

from __future__ import annotations

import abc
import os
import time
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from slick_client._calls import Send
from slick_client._errors import InvalidParamsError, ResponseValidationError, WaitTimeoutError
from slick_client._version import __version__
from slick_client.schemas import ProbeCreate, ProbeParams, ProbePublic

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

ModelT = TypeVar("ModelT", bound=BaseModel)
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)


class BaseClient(Generic[HttpT, TransportT]):
    """What `Client` and `AsyncClient` share: configuration, URLs, headers, construction.

    `base_url` and `api_key` default to the environment variables SLICK_BASE_URL and
    SLICK_API_KEY (and the URL to http://127.0.0.1:8000, where `slick serve` listens).
    `timeout` is in seconds (or an `httpx.Timeout`) per request; `max_retries` is how often an
    idempotent request is retried after a connection error or a 502/503/504. `transport`
    replaces the network (e.g. `httpx.MockTransport`, or a WSGI/ASGI transport in tests);
    `http_client` is a ready httpx client to use instead of the client's own (closing the
    slick client leaves it open).
    """

    def __init__(
        self,
        base_url: str | httpx.URL | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
    ) -> None:
        base = str(base_url or os.environ.get("SLICK_BASE_URL") or DEFAULT_BASE_URL)
        if "://" not in base:
            base = f"http://{base}"
        self.base_url = base.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("SLICK_API_KEY") or None
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.max_retries = max_retries
        if http_client is not None and transport is not None:
            raise ValueError("pass either transport or http_client, not both")
        self._owns_http = http_client is None
        self._http: HttpT = self._connect(transport, http_client)

    @abc.abstractmethod
    def _connect(self, transport: TransportT | None, http_client: HttpT | None) -> HttpT:
        """Set up the resources; the caller's httpx client, or one of our own."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": f"slick-client/{__version__}", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if extra:
            headers.update(extra)
        return headers

    def _build(self, send: Send, content: Any) -> httpx.Request:
        """The request of a `Send` step, its body streamed from `content`."""
        call = send.call
        return self._http.build_request(call.method, send.url, params=call.params,
                                        json=call.json, content=content, headers=send.headers,
                                        timeout=send.timeout)

    def _stream_timeout(self, deadline: float | None) -> httpx.Timeout:
        """The client timeout, its read part shortened so a wait's deadline is kept."""
        if deadline is None:
            return self.timeout
        left = max(deadline - time.monotonic(), 0.001)
        read = left if self.timeout.read is None else min(self.timeout.read, left)
        return httpx.Timeout(
            connect=self.timeout.connect, read=read, write=self.timeout.write,
            pool=self.timeout.pool,
        )


def path_id(value: str) -> str:
    """An id as one URL path segment."""
    return quote(str(value), safe="")


def upload_params(
    *, name: str | None, format: str | None, on_error: str, columns: dict[str, str | None]
) -> dict[str, str]:
    """The query string of POST /v1/datasets; unset options are left to the server."""
    params = {"on_error": on_error}
    if name is not None:
        params["name"] = name
    if format is not None:
        params["format"] = format
    params.update({key: value for key, value in columns.items() if value is not None})
    return params


def probe_payload(
    dataset_id: str,
    *,
    exemplar_dataset_id: str | None,
    model: str | None,
    engine: str | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The JSON body of POST /v1/probes, validated with the shared schema before sending.

    Only what the caller set is sent, so the server's defaults apply to the rest.
    """
    fields: dict[str, Any] = {"dataset_id": dataset_id, **params}
    for key, value in (
        ("exemplar_dataset_id", exemplar_dataset_id), ("model", model), ("engine", engine)
    ):
        if value is not None:
            fields[key] = value
    try:
        create = ProbeCreate(**fields)
    except ValidationError as exc:
        raise InvalidParamsError.from_validation_error(
            exc, known=list(ProbeParams.model_fields)
        ) from None
    return create.model_dump(mode="json", exclude_unset=True)


def parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    """The response body as `model`; a body that does not fit is a ResponseValidationError."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ResponseValidationError(
            f"unexpected {model.__name__} from {response.request.method} "
            f"{response.request.url.path}: {exc.errors()[0].get('msg')}",
            response=response,
            type="invalid_response",
            body=response.text[:2000],
        ) from exc


def parse_json(response: httpx.Response) -> Any:
    """The response body as JSON (text when it is not JSON)."""
    try:
        return response.json()
    except ValueError:
        return response.text


def check_deadline(deadline: float | None, job: ProbePublic | None, probe_id: str) -> None:
    """Raise WaitTimeoutError once `deadline` (a time.monotonic value) has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise wait_timeout(job, probe_id)


def wait_timeout(job: ProbePublic | None, probe_id: str) -> WaitTimeoutError:
    """The error for a wait that ran out, with the job's last known state."""
    where = f" ({job.status}, {job.progress.done}/{job.progress.total} rows)" if job else ""
    return WaitTimeoutError(
        f"probe {probe_id} still not finished when the wait timed out{where}; "
        "it goes on on the server",
        job=job,
    )
