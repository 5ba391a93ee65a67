"""Parquet bytes from the service as a pyarrow Table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["table_from_bytes"]


def table_from_bytes(data: bytes) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Decoded on this thread: once a read has started Arrow's thread pools, they can abort the
    # interpreter at exit ("terminate called without an active exception", apache/arrow#34314;
    # 6 of 60 runs of the client smoke script with pyarrow 26.0.1, none of 80 like this). An
    # in-memory buffer gains nothing from pre-buffering, and a result decodes in seconds.
    return pq.read_table(pa.BufferReader(data), use_threads=False, pre_buffer=False)
