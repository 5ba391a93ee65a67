"""Bounded, streaming gunzip of every gzip layer: a small file can never expand without limit.

`Gunzip` is push-based (feed it chunks as they arrive; it hands decoded bytes to a callback),
so the upload path decodes on the way to disk and the reader decodes a file in pieces. Data
that starts with the gzip magic bytes is inflated, and so is the result if it is gzip again
(a .gz of a .gz), up to `MAX_GZIP_LAYERS` layers. Every layer's output counts against
`max_bytes`, so a double-gzip bomb stops at the limit instead of filling memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

__all__ = ["MAX_GZIP_LAYERS", "DecodeError", "DecodedTooLarge", "Gunzip", "gunzip_all",
           "gunzip_stream"]

GZIP_MAGIC = b"\x1f\x8b"
MAX_GZIP_LAYERS = 4
_OUT_CHUNK = 1 << 20


class DecodeError(ValueError):
    """Corrupt gzip data, or more nested gzip layers than MAX_GZIP_LAYERS."""


class DecodedTooLarge(DecodeError):
    """Decompressing went past `max_bytes` (`limit` holds it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the data is larger than {limit} bytes after decompression")
        self.limit = limit


class _Layer:
    """One stage: sniffs the first two bytes, then passes data on or inflates it."""

    def __init__(
        self, depth: int, out: Callable[[bytes], None], max_bytes: int | None, force_gzip: bool
    ) -> None:
        self.depth, self.out, self.max_bytes = depth, out, max_bytes
        self._head = b""
        self._gzip: bool | None = True if force_gzip else None
        self._member: zlib._Decompress | None = None  # the gzip member being inflated
        self._members = 0  # members inflated to their end
        self._next: _Layer | None = None
        self._produced = 0

    def write(self, data: bytes) -> None:
        if self._gzip is None:  # undecided until two bytes are in
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._gzip = data[:2] == GZIP_MAGIC
        if not self._gzip:
            self.out(data)
            return
        if self._next is None:
            if self.depth >= MAX_GZIP_LAYERS:
                raise DecodeError(f"more than {MAX_GZIP_LAYERS} nested gzip layers")
            self._next = _Layer(self.depth + 1, self.out, self.max_bytes, False)
        try:
            self._gunzip(data)
        except zlib.error as exc:
            raise DecodeError(f"corrupt gzip data: {exc}") from exc

    def _gunzip(self, data: bytes) -> None:
        assert self._next is not None
        while data:
            if self._member is None:
                if self._members and not data.strip(b"\x00"):
                    return  # zero padding after the last member
                self._member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            member = self._member
            while True:  # bounded pieces: never more than _OUT_CHUNK in memory at once
                piece = member.decompress(data, _OUT_CHUNK)
                self._emit(piece)
                data = member.unconsumed_tail
                if member.eof or (not data and len(piece) < _OUT_CHUNK):
                    break
            if not member.eof:
                return
            self._members += 1
            self._member = None
            data = member.unused_data  # the next member of a multi-member file, if any

    def _emit(self, piece: bytes) -> None:
        if not piece:
            return
        self._produced += len(piece)
        if self.max_bytes is not None and self._produced > self.max_bytes:
            raise DecodedTooLarge(self.max_bytes)
        assert self._next is not None
        self._next.write(piece)

    def finish(self) -> None:
        if self._head:  # under two bytes in all
            data, self._head = self._head, b""
            if self._gzip:
                raise DecodeError("corrupt gzip data: the stream ends early")
            self.out(data)
            return
        if not self._gzip:
            return
        if self._member is not None or not self._members:
            raise DecodeError("corrupt gzip data: the stream ends early")
        assert self._next is not None
        self._next.finish()


class Gunzip:
    """Decode a byte stream through every gzip layer, bounded by `max_bytes` per layer.

    Call `write` with each chunk and `finish` at the end; `out` receives the fully decoded
    bytes. `force_gzip` says the outer layer must be gzip (a Content-Encoding), else it is
    sniffed. Raises DecodedTooLarge past `max_bytes`, DecodeError for corrupt data.
    """

    def __init__(
        self,
        out: Callable[[bytes], None],
        *,
        max_bytes: int | None = None,
        force_gzip: bool = False,
    ) -> None:
        self._root = _Layer(0, out, max_bytes, force_gzip)

    def write(self, data: bytes) -> None:
        if data:
            self._root.write(data)

    def finish(self) -> None:
        self._root.finish()


def gunzip_stream(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> Iterator[bytes]:
    """The fully decoded bytes of `chunks` (plain data passes through), piece by piece, within
    `max_bytes` in all: memory holds about one chunk's output at a time."""
    ready: list[bytes] = []
    size = 0

    def keep(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if max_bytes is not None and size > max_bytes:
            raise DecodedTooLarge(max_bytes)
        ready.append(data)

    decoder = Gunzip(keep, max_bytes=max_bytes)
    for chunk in chunks:
        decoder.write(chunk)
        yield from ready
        ready.clear()
    decoder.finish()
    yield from ready


def gunzip_all(chunks: Iterable[bytes], *, max_bytes: int | None = None) -> bytes:
    """The fully decoded bytes of `chunks` (plain data passes through), within `max_bytes`."""
    return b"".join(gunzip_stream(chunks, max_bytes=max_bytes))
