"""Receive an upload body into the staging area, streaming: never the whole body in memory.

Accepts multipart/form-data (field `file`) or a raw body whose Content-Type names the format.
Gzip (Content-Encoding: gzip, or gzip magic bytes in the data, a gzip inside a gzip too) is
decompressed on the way to disk, bounded at every layer, so the size limit, the hash and the
stored file all see the fully decoded bytes.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path, PurePath

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from slick_curator.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from slick_curator.jobs import Upload
from slick_curator.probing.decoding import DecodedTooLarge, DecodeError, Gunzip
from slick_curator.probing.reading import DatasetError, detect_format

RAW_TYPES: dict[str, str | None] = {
    "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl", "application/jsonlines": "jsonl",
    "application/json": "json",
    "text/csv": "csv", "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
    "application/octet-stream": None, "application/gzip": None, "application/x-gzip": None,
}
_MULTIPART_SLACK = 64 * 1024  # multipart framing around the file, allowed past the limit
_MAX_NAME, _MAX_SUFFIX = 255, 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Sink:
    """Decoded bytes to a staging file, hashed and counted; every gzip layer is inflated.

    Bounded at every layer (probing.decoding), so a gzip of a gzip cannot expand past the
    limit, and what is stored is plain data: nothing decompresses it again later.
    """

    def __init__(self, path: Path, limit: int, gzipped: bool) -> None:
        self.path, self.limit = path, limit
        self.file = open(path, "wb")  # noqa: SIM115 - closed in finish/abort
        self.hash = hashlib.sha256()
        self.size = 0
        self._decoder = Gunzip(self._emit, max_bytes=limit, force_gzip=gzipped)

    def write(self, data: bytes) -> None:
        try:
            self._decoder.write(data)
        except DecodedTooLarge as exc:
            raise _too_large(self.limit) from exc
        except DecodeError as exc:
            raise BadRequest(str(exc), param="file") from exc

    def _emit(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.hash.update(data)
        self.file.write(data)

    def finish(self) -> tuple[str, int]:
        try:
            self._decoder.finish()
        except DecodeError as exc:
            raise BadRequest(str(exc), param="file") from exc
        self.file.close()
        return self.hash.hexdigest(), self.size

    def abort(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"upload is larger than this server's limit of {limit} bytes "
                           "(SLICK_MAX_UPLOAD_BYTES), after decompression", param="file")


def clean_name(name: str | None) -> str | None:
    """A display name from a user-given file name: no folders, no control characters, at
    most 255 characters (a long name loses the end of its stem, never its suffix)."""
    if not name:
        return None
    base = _CONTROL.sub("", PurePath(name.replace("\\", "/")).name).strip()
    if len(base) > _MAX_NAME:
        suffix = "".join(PurePath(base).suffixes[-2:])  # ".jsonl.gz" as well as ".csv"
        if len(suffix) > _MAX_SUFFIX:
            suffix = PurePath(base).suffix if len(PurePath(base).suffix) <= _MAX_SUFFIX else ""
        base = base[: _MAX_NAME - len(suffix)].rstrip() + suffix
    return base or None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _format_from_name(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return detect_format(name)
    except DatasetError:
        return None


def _need_format(what: str) -> BadRequest:
    return BadRequest(f"cannot tell the file format from {what}: pass format= "
                      "(jsonl, json, csv or parquet)", param="format")


async def receive_upload(request: Request, *, staging: Path, limit: int, format: str | None,
                         name: str | None) -> Upload:
    """Stream the request body into `staging`; returns the staged, decoded upload."""
    media = _media_type(request)
    if media != "multipart/form-data" and media not in RAW_TYPES:
        shown = media or "none"
        raise UnsupportedMediaType(
            f"unsupported Content-Type {shown!r}; send multipart/form-data with a 'file' field, "
            f"or a raw body as one of: {', '.join(t for t in RAW_TYPES)}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}; use gzip")
    slack = _MULTIPART_SLACK if media == "multipart/form-data" else 0
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + slack:
        raise PayloadTooLarge(f"upload of {length} bytes is larger than this server's limit of "
                              f"{limit} bytes (SLICK_MAX_UPLOAD_BYTES)")
    staging.mkdir(parents=True, exist_ok=True)
    sink = _Sink(staging / uuid.uuid4().hex, limit, encoding != "identity")
    try:
        if media == "multipart/form-data":
            filename, part_type = await _read_multipart(request, sink)
            name = clean_name(name) or clean_name(filename)
            fmt = format or _format_from_name(name) or RAW_TYPES.get(part_type or "")
            if fmt is None:
                raise _need_format(f"the file name {name!r}" if name else "a nameless file part")
        else:
            name = clean_name(name)
            fmt = format or RAW_TYPES[media] or _format_from_name(name)
            if fmt is None:
                named = f" and name {name!r}" if name else ""
                raise _need_format(f"Content-Type {media}{named}")
            try:
                async for chunk in request.stream():
                    await run_in_threadpool(sink.write, chunk)  # inflating is CPU work
            except ClientDisconnect as exc:
                raise BadRequest("the client disconnected during the upload") from exc
        digest, size = sink.finish()
    except BaseException:
        sink.abort()
        raise
    return Upload(path=sink.path, sha256=digest, size=size, name=name, format=fmt)


async def _read_multipart(request: Request, sink: _Sink) -> tuple[str | None, str | None]:
    """Feed the `file` part of a multipart body to `sink`; (file name, part content type)."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart/form-data body without a boundary", param="file")
    state: dict = {"headers": {}, "field": b"", "value": b"", "target": None, "found": False,
                   "filename": None, "type": None, "ended": False, "other": 0}

    def on_part_begin() -> None:
        state.update(headers={}, field=b"", value=b"", target=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if disposition.get(b"name") != b"file":
            return
        if state["found"]:
            raise BadRequest("send one file per upload (two 'file' parts found)", param="file")
        state["found"], state["target"] = True, sink
        filename = disposition.get(b"filename")
        state["filename"] = filename.decode("utf-8", "replace") if filename else None
        part_type = state["headers"].get(b"content-type", b"").decode("latin-1")
        state["type"] = part_type.split(";")[0].strip().lower() or None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["target"] is not None:
            state["target"].write(data[start:end])
        else:  # other form fields are ignored, but not without bound
            state["other"] += end - start
            if state["other"] > _MULTIPART_SLACK:
                raise PayloadTooLarge("form fields other than 'file' are too large")

    def on_part_end() -> None:
        state["target"] = None

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end, "on_end": on_end,
    })
    try:
        async for chunk in request.stream():
            await run_in_threadpool(parser.write, chunk)  # it feeds the inflating sink
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"malformed multipart body: {exc}", param="file") from exc
    except ClientDisconnect as exc:
        raise BadRequest("the client disconnected during the upload") from exc
    if not state["found"]:
        raise BadRequest("the multipart body has no 'file' field", param="file")
    if not state["ended"]:
        raise BadRequest("malformed multipart body: it ends before the closing boundary",
                         param="file")
    return state["filename"], state["type"]
