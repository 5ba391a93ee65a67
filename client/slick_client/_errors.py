"""The exception tree. Every error the client raises is a `SlickError`.

    SlickError
    ├── APIError                      the server answered with an error status
    │   ├── BadRequestError           400, 422 (`.errors`: the bad rows of an upload)
    │   ├── AuthenticationError       401, 403
    │   ├── NotFoundError             404
    │   ├── ConflictError             409 (e.g. the result of a job that has not succeeded)
    │   ├── PayloadTooLargeError      413
    │   ├── UnsupportedMediaTypeError 415
    │   ├── RateLimitError            429
    │   ├── ServerError               5xx
    │   └── ResponseValidationError   2xx whose body does not fit the expected schema
    ├── TransportError                no usable answer: connection refused, timeout, broken stream
    ├── InvalidParamsError            probe parameters rejected locally, before any request
    ├── JobFailedError                `wait()` saw the job end failed or cancelled
    │   └── FinetuneFailedError       ... a fine-tune job (`finetunes.wait()`)
    └── WaitTimeoutError              `wait(timeout=...)` ran out while the job was still going
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slick_client.schemas import ErrorResponse, RowErrorPublic

if TYPE_CHECKING:
    import httpx

    from slick_client.schemas import FinetunePublic, ProbePublic

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InvalidParamsError",
    "JobFailedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "SlickError",
    "TransportError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "error_from_response",
]


class SlickError(Exception):
    """Base class of every error raised by slick_client."""


class APIError(SlickError):
    """The server answered with an error status.

    Attributes mirror the error body ``{"error": {"type", "message", "param", "code",
    "errors"}}``: `type` (e.g. ``"not_found"``), `message`, `param` (the request parameter at
    fault, or None), `errors` (row-level dataset errors, possibly empty). `status_code` and
    `response` are the HTTP answer; `body` is its decoded JSON (or text when it was not JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        type: str = "error",
        param: str | None = None,
        errors: list[RowErrorPublic] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.status_code = response.status_code
        self.type = type
        self.param = param
        self.errors: list[RowErrorPublic] = list(errors or [])
        self.body = body

    def __str__(self) -> str:
        text = f"{self.status_code} {self.type}: {self.message}"
        if self.param:
            text += f" (param: {self.param})"
        if self.errors:
            shown = "; ".join(f"row {e.row} {e.field}: {e.reason}" for e in self.errors[:5])
            more = f"; and {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
            text += f" [{shown}{more}]"
        return text


class BadRequestError(APIError):
    """400 or 422: the request (or the uploaded data) is invalid. `errors` lists bad rows."""


class AuthenticationError(APIError):
    """401 or 403: missing or wrong API key."""


class NotFoundError(APIError):
    """404: no dataset, probe or route with that id."""


class ConflictError(APIError):
    """409: the resource is not in a state that allows this (e.g. result before success)."""


class PayloadTooLargeError(APIError):
    """413: the upload is larger than the server accepts."""


class UnsupportedMediaTypeError(APIError):
    """415: the server cannot read this Content-Type or Content-Encoding."""


class RateLimitError(APIError):
    """429: too many requests."""


class ServerError(APIError):
    """5xx: the server failed (or is not ready yet: 503)."""


class ResponseValidationError(APIError):
    """A successful answer whose body does not match the wire schema (client/server skew)."""


class TransportError(SlickError):
    """No usable HTTP answer: connection refused or reset, timeout, broken stream.

    The underlying httpx exception is `__cause__`; `request` is the request that failed.
    """

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class InvalidParamsError(SlickError, ValueError):
    """Probe parameters failed local validation; `param` names the field, `message` says why."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.message = message
        self.param = param

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, *, known: list[str] | None = None
    ) -> InvalidParamsError:
        """The first problem of a pydantic error, with a 'did you mean' for unknown names."""
        first = exc.errors()[0]
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        message = first.get("msg", str(exc))
        if first.get("type") == "extra_forbidden" and param and known:
            import difflib

            close = difflib.get_close_matches(param, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            message = f"unknown parameter.{hint} Known: {', '.join(sorted(known))}"
        more = len(exc.errors()) - 1
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return cls(message, param=param)


class JobFailedError(SlickError):
    """The job ended failed or cancelled. `job` is its final state; `status` its status."""

    kind = "probe"

    def __init__(self, job: ProbePublic | FinetunePublic) -> None:
        reason = f": {job.error}" if job.error else ""
        super().__init__(f"{self.kind} {job.id} {job.status}{reason}")
        self.job = job
        self.status = job.status
        self.message = job.error or job.status


class FinetuneFailedError(JobFailedError):
    """`finetunes.wait()` saw the job end failed or cancelled. `job` is its final state."""

    kind = "fine-tune"


class WaitTimeoutError(SlickError, TimeoutError):
    """`wait(timeout=...)` ran out; the job goes on on the server. `job` is its last state."""

    def __init__(self, message: str, *, job: ProbePublic | None = None) -> None:
        super().__init__(message)
        self.job = job


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: BadRequestError,
    429: RateLimitError,
}


def _error_class(status: int) -> type[APIError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else APIError


def error_from_response(response: httpx.Response) -> APIError:
    """The typed error for an error response; its body must have been read.

    Understands the service's ``{"error": {...}}`` body, FastAPI's default ``{"detail": ...}``
    and non-JSON bodies (e.g. a proxy's HTML page), so an error never escapes untyped.
    """
    status = response.status_code
    cls = _error_class(status)
    text = response.text
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    kind = _default_type(status)
    message = response.reason_phrase or f"HTTP {status}"
    param: str | None = None
    errors: list[RowErrorPublic] = []
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        try:
            detail = ErrorResponse.model_validate(body).error
        except ValidationError:
            raw = body["error"]
            kind = str(raw.get("type") or kind)
            message = str(raw.get("message") or message)
        else:
            kind, message, param = detail.type, detail.message, detail.param
            errors = list(detail.errors or [])
    elif isinstance(body, dict) and "detail" in body:  # FastAPI's own handlers
        detail = body["detail"]
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            loc = [str(p) for p in detail[0].get("loc", ()) if p not in ("body", "query", "path")]
            param = ".".join(loc) or None
            message = str(detail[0].get("msg", detail))
        else:
            message = str(detail)
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    return cls(message, response=response, type=kind, param=param, errors=errors, body=body)


def _default_type(status: int) -> str:
    return {
        400: "invalid_request",
        401: "authentication_error",
        403: "permission_denied",
        404: "not_found",
        409: "conflict",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "invalid_request",
        429: "rate_limited",
    }.get(status, "server_error" if status >= 500 else "http_error")
