"""Turn what a user hands to `datasets.upload` into a body streamed from disk.

A path is sent as it is, its Content-Type (and Content-Encoding for ``.gz``) taken from the
suffix. A pandas or polars DataFrame or a pyarrow Table is written to a temporary Parquet
file first, a list of dicts to a temporary JSON-lines file. Nothing is read into memory whole:
the body is read in chunks while it is sent, and can be re-opened for a retry.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from slick_client.schemas import DATASET_SUFFIXES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CONTENT_TYPES", "UploadBody", "content_type_for", "prepare_upload"]

CHUNK_SIZE = 1 << 20

CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
_OCTET = "application/octet-stream"


def content_type_for(filename: str, format: str | None = None) -> tuple[str, str | None]:
    """(Content-Type, Content-Encoding) for a file name; an explicit `format` wins.

    >>> content_type_for("train.jsonl.gz")
    ('application/x-ndjson', 'gzip')
    """
    path = Path(filename)
    encoding = None
    if path.suffix.lower() == ".gz":
        encoding = "gzip"
        path = path.with_suffix("")
    if format is not None:
        return CONTENT_TYPES.get(format, _OCTET), encoding
    fmt = DATASET_SUFFIXES.get(path.suffix.lower())
    return (CONTENT_TYPES[fmt] if fmt else _OCTET), encoding


@dataclass
class UploadBody:
    """A request body on disk (or a caller's binary file object) and its headers."""

    content_type: str
    content_encoding: str | None
    name: str | None
    path: Path | None = None
    fileobj: IO[bytes] | None = None
    size: int | None = None

    @property
    def rewindable(self) -> bool:
        """Whether the body can be sent again (needed to retry an upload)."""
        if self.path is not None:
            return True
        try:
            return bool(self.fileobj is not None and self.fileobj.seekable())
        except (AttributeError, ValueError):
            return False

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The body from its start, as a binary file object."""
        if self.path is not None:
            with open(self.path, "rb") as handle:
                yield handle
            return
        assert self.fileobj is not None
        if self.rewindable:
            self.fileobj.seek(self._start)
        yield self.fileobj

    def headers(self) -> dict[str, str]:
        """Content-Type, Content-Encoding and, when the size is known, Content-Length."""
        headers = {"Content-Type": self.content_type}
        if self.content_encoding:
            headers["Content-Encoding"] = self.content_encoding
        if self.size is not None:
            headers["Content-Length"] = str(self.size)
        return headers

    def __post_init__(self) -> None:
        self._start = 0
        if self.fileobj is not None and self.rewindable:
            self._start = self.fileobj.tell()
            try:
                end = self.fileobj.seek(0, os.SEEK_END)
                self.size = end - self._start
            finally:
                self.fileobj.seek(self._start)


@contextlib.contextmanager
def prepare_upload(
    source: Any, *, name: str | None = None, format: str | None = None
) -> Iterator[UploadBody]:
    """The body for `source`; temporary files are removed on exit.

    `source` is a path (str or os.PathLike), a binary file object, a pandas or polars
    DataFrame, a pyarrow Table or RecordBatch, a Hugging Face `datasets.Dataset`, or a list of
    dicts (one per row).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        content_type, encoding = content_type_for(path.name, format)
        yield UploadBody(content_type, encoding, name if name is not None else path.name,
                         path=path, size=path.stat().st_size)
        return
    if hasattr(source, "read"):
        filename = name or str(getattr(source, "name", "") or "")
        content_type, encoding = content_type_for(os.path.basename(filename), format)
        yield UploadBody(content_type, encoding, name, fileobj=source)
        return
    if _is_rows(source):
        # JSON lines, not Parquet: Arrow would type the columns from the first row (dropping
        # keys it lacks, failing on a column that mixes str and list); JSON keeps rows as given.
        fmt, table = "jsonl", None
    else:
        fmt, table = "parquet", _as_arrow(source)
    fd, tmp = tempfile.mkstemp(prefix="slick-upload-", suffix=f".{fmt}")
    os.close(fd)
    try:
        if table is None:
            _write_jsonl(source, Path(tmp))
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        yield UploadBody(CONTENT_TYPES[fmt], None, name, path=Path(tmp),
                         size=os.path.getsize(tmp))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _is_rows(source: Any) -> bool:
    """Whether `source` is a list (or tuple) of dicts; a non-empty one, or raise."""
    if not isinstance(source, (list, tuple)):
        return False
    if not source:
        raise ValueError("cannot upload an empty list of rows")
    if not all(isinstance(row, Mapping) for row in source):
        raise TypeError("a list to upload must hold one dict per row")
    return True


def _as_arrow(source: Any) -> pa.Table:
    """A pyarrow Table for a DataFrame or Arrow data.

    pandas and polars are never imported here: an object is recognised by its class's module,
    so they are only used when the caller already has them loaded.
    """
    root = type(source).__module__.split(".")[0]
    name = type(source).__name__
    if root == "pandas" and name == "DataFrame":
        import pyarrow as pa

        return pa.Table.from_pandas(source, preserve_index=False)
    if root == "polars" and name == "DataFrame":
        return source.to_arrow()
    if root == "polars" and name == "LazyFrame":
        return source.collect().to_arrow()
    if root == "datasets" and name == "Dataset":  # Hugging Face: its Arrow table
        return source.data.table
    if root == "pyarrow":
        import pyarrow as pa

        if isinstance(source, pa.Table):
            return source
        if isinstance(source, pa.RecordBatch):
            return pa.Table.from_batches([source])
    raise TypeError(
        "upload() takes a file path, a binary file object, a pandas or polars DataFrame, a "
        f"pyarrow Table, a datasets.Dataset, or a list of dicts; got {type(source).__name__}"
    )


def _write_jsonl(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(dict(row), ensure_ascii=False, default=str))
            handle.write("\n")


def iter_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """A file object's bytes in chunks of `CHUNK_SIZE`."""
    while chunk := handle.read(CHUNK_SIZE):
        yield chunk


async def aiter_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    """Async twin of `iter_chunks`: each read runs in a worker thread, off the event loop."""
    import anyio.to_thread

    while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK_SIZE):
        yield chunk
