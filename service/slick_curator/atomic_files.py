"""Files that are complete or absent: written to a temp name beside the target, fsynced,
renamed over it, and the folder fsynced, so neither a crash nor a reader ever sees half a file.

Every artefact the service or the CLI writes goes through here (shard checkpoints, results,
fine-tune outcomes and reports, `slick probe -o`)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["write_atomic", "write_json_atomic", "write_parquet_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """`write(f)` fills a temp file in `path`'s folder, which then replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike) -> None:
    write_atomic(path, lambda f: pq.write_table(table, f, compression="zstd"))


def write_json_atomic(value: Any, path: str | os.PathLike) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(value, indent=1).encode()))
