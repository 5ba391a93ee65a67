"""The service's error tree and the one JSON shape every error response has.

Layers below the API raise `ServiceError` subclasses; only `install_error_handlers` turns them
(and FastAPI's own validation, 404 and 405 errors) into
``{"error": {"type", "message", "param", "code", "errors"}}``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from slick_client.schemas import ErrorDetail, ErrorResponse, RowErrorPublic

if TYPE_CHECKING:  # the error tree itself must not need FastAPI (the jobs layer raises it)
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

__all__ = [
    "BadRequest",
    "Conflict",
    "DatasetInvalid",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "Unauthorized",
    "UnhandledErrors",
    "UnsupportedMediaType",
    "error_responses",
    "install_error_handlers",
    "scrub_paths",
]


class ServiceError(Exception):
    """An error with an HTTP status, a type name, and optionally the parameter at fault."""

    status = 500
    type = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        errors: Sequence[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.errors = None if errors is None else [_row_error(e) for e in errors]
        self.headers = headers

    def detail(self) -> ErrorDetail:
        return ErrorDetail(
            type=self.type, message=self.message, param=self.param, code=self.status,
            errors=self.errors,
        )


class BadRequest(ServiceError):
    status, type = 400, "invalid_request"


class DatasetInvalid(BadRequest):
    """The uploaded file, or some of its rows, cannot be read; `errors` lists the rows."""

    type = "invalid_dataset"


class Unauthorized(ServiceError):
    status, type = 401, "unauthorized"


class NotFound(ServiceError):
    status, type = 404, "not_found"


class Conflict(ServiceError):
    status, type = 409, "conflict"


class PayloadTooLarge(ServiceError):
    status, type = 413, "payload_too_large"


class UnsupportedMediaType(ServiceError):
    status, type = 415, "unsupported_media_type"


def scrub_paths(text: str, *roots: str | os.PathLike) -> str:
    """`text` with every server folder in `roots` replaced by "<data dir>": error messages
    tell clients what went wrong, never where the server keeps its files."""
    for root in roots:
        for form in {os.fspath(root), os.path.abspath(root), os.path.realpath(root)}:
            if len(form) > 1:
                text = text.replace(form, "<data dir>")
    return text


_TYPES_BY_STATUS = {
    400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 503: "unavailable",
}


def _row_error(e: Any) -> RowErrorPublic:
    if isinstance(e, RowErrorPublic):
        return e
    if isinstance(e, dict):
        return RowErrorPublic(**e)
    return RowErrorPublic(row=e.row, field=e.field, reason=e.reason)


def _response(detail: ErrorDetail, headers: dict[str, str] | None = None) -> JSONResponse:
    from fastapi.responses import JSONResponse

    body = ErrorResponse(error=detail).model_dump(mode="json")
    return JSONResponse(body, status_code=detail.code, headers=headers)


def _validation_param(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error shape for these status codes."""
    return {code: {"model": ErrorResponse, "description": _TYPES_BY_STATUS.get(code, "error")}
            for code in codes}


class UnhandledErrors:
    """ASGI middleware: an exception no handler took becomes the one 500 body, and the
    connection stays open for the client's next request.

    Starlette's last-resort handler answers and then re-raises, and uvicorn closes the
    connection of a request that raised: the client's next call on it fails ("connection
    reset"). Here the exception is logged and answered, and goes no further.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only closing the connection ends it
                raise
            detail = ErrorDetail(type="internal_error", code=500,
                                 message="internal server error; see the server log")
            await _response(detail)(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, ours and the framework's, through the one error shape."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _response(exc.detail(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        param = _validation_param(first.get("loc", ()))
        if first.get("type") == "json_invalid":
            param = None
            where = first.get("ctx", {}).get("error") or first.get("msg")
            message = f"request body is not valid JSON ({where})"
        else:
            message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return _response(ErrorDetail(type="validation_error", message=message, param=param,
                                     code=422))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = exc.status_code
        if code == 404 and exc.detail == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        elif code == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        detail = ErrorDetail(type=_TYPES_BY_STATUS.get(code, "error"), message=message, code=code)
        return _response(detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _response(ErrorDetail(type="internal_error", code=500,
                                     message="internal server error; see the server log"))
