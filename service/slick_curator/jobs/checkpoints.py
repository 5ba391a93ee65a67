"""Shard checkpoints on disk: the truth about which rows of a job are done.

A shard file is written to a temp name, fsynced, renamed, and the folder fsynced, before the
shard is reported done; so after any crash a shard file is either complete or absent.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.probing.records import Example
from slick_curator.probing.schema import RESULT_SCHEMA, ROW

log = logging.getLogger(__name__)

CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")


def shard_path(job_dir: Path, index: int) -> Path:
    return job_dir / "shards" / f"{index:06d}.parquet"


def write_atomic(table: pa.Table, path: Path) -> None:
    """A complete file at `path`, or none: temp file + fsync + rename + fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def finished_shards(job_dir: Path, shards: Sequence[Sequence[Example]]) -> dict[int, pa.Table]:
    """The checkpointed shards of a job, by index; unreadable or mismatched files are removed.

    A shard counts only if its file holds exactly the rows that shard index covers now.
    """
    found: dict[int, pa.Table] = {}
    folder = job_dir / "shards"
    if not folder.is_dir():
        return found
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
    for index, rows in enumerate(shards):
        path = shard_path(job_dir, index)
        if not path.exists():
            continue
        try:
            table = pq.read_table(path).cast(RESULT_SCHEMA)
            ok = table.column(ROW).to_pylist() == [e.row for e in rows]
        except (pa.ArrowException, OSError, ValueError) as exc:
            log.warning("discarding unreadable checkpoint %s: %s", path, exc)
            ok = False
        if ok:
            found[index] = table
        else:
            log.warning("discarding checkpoint %s: it does not match shard %d", path, index)
            path.unlink(missing_ok=True)
    return found


def category_counts(tables: Sequence[pa.Table]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for table in tables:
        counts.update(c for c in table.column("slick_category").to_pylist() if c)
    return {c: counts.get(c, 0) for c in CATEGORIES}
