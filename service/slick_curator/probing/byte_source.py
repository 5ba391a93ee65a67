"""A dataset file's decoded bytes, read in chunks, as many times as a reader needs.

A path is reopened on every pass and decoded as it is read (every gzip layer, bounded:
probing.decoding), so a pass holds about one chunk in memory; a stream is decoded once into
memory (it cannot be reread). Decoding problems surface as the reader's own errors, with the
file's name.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from slick_curator.probing.decoding import GZIP_MAGIC, DecodedTooLarge, DecodeError, gunzip_stream
from slick_curator.probing.read_errors import file_error, too_large

__all__ = ["READ_CHUNK", "ByteSource", "ChunkStream", "decoded"]

READ_CHUNK = 1 << 20


class ByteSource:
    """Decoded bytes of a file at `path`, or of `data` already decoded."""

    def __init__(self, *, path: str | None = None, data: bytes | None = None,
                 name: str | None = None, max_bytes: int | None = None) -> None:
        assert (path is None) != (data is None)
        self.path, self.data, self.name, self.max_bytes = path, data, name, max_bytes

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(view), READ_CHUNK):
                yield bytes(view[start:start + READ_CHUNK])
            return
        with open(self.path, "rb") as f:
            yield from decoded(iter(lambda: f.read(READ_CHUNK), b""), self.name, self.max_bytes)

    def is_blank(self) -> bool:
        """Nothing but whitespace (usually decided by the first chunk)."""
        return all(not chunk.strip() for chunk in self.chunks())

    def plain_path(self) -> str | None:
        """The path, when the file is not gzip: readers that need random access (Parquet)
        open it directly instead of holding its bytes."""
        if self.path is None:
            return None
        with open(self.path, "rb") as f:
            return None if f.read(2) == GZIP_MAGIC else self.path

    def read_all(self) -> bytes:
        return self.data if self.data is not None else b"".join(self.chunks())


def decoded(chunks: Iterator[bytes], name: str | None, max_bytes: int | None
            ) -> Iterator[bytes]:
    """`chunks` with every gzip layer inflated, within `max_bytes`; problems raised as the
    reader's errors, naming the file."""
    try:
        yield from gunzip_stream(chunks, max_bytes=max_bytes)
    except DecodedTooLarge as exc:
        raise too_large(name, "bytes", exc.limit,
                        f"more than {exc.limit} bytes after decompression, the limit") from exc
    except DecodeError as exc:
        raise file_error(name, str(exc)) from exc


class ChunkStream(io.RawIOBase):
    """The chunks of a ByteSource as a readable binary stream (for io.TextIOWrapper)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._pending = chunks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]  # a view: no copy of the rest
        return n
