"""Shard checkpoints on disk: the truth about which rows of a job are done.

A shard file is written atomically (`atomic_files`) before the shard is reported done; so
after any crash a shard file is either complete or absent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.probing.categories import KNOWN_ORDER
from slick_curator.probing.schema import RESULT_SCHEMA, ROW, with_result_columns

log = logging.getLogger(__name__)

CATEGORIES = tuple(c.value for c in KNOWN_ORDER)


def shard_path(job_dir: Path, index: int) -> Path:
    return job_dir / "shards" / f"{index:06d}.parquet"


def read_shard(job_dir: Path, index: int) -> pa.Table:
    """One checkpointed shard's results (null columns where an older release wrote fewer)."""
    return with_result_columns(pq.read_table(shard_path(job_dir, index))).cast(RESULT_SCHEMA)


def finished_shards(job_dir: Path, n_shards: int, rows_of: Callable[[int], list[int]]
                    ) -> Iterator[tuple[int, pa.Table]]:
    """The checkpointed shards of a job, (index, table) in order, one at a time; unreadable
    or mismatched files are removed.

    A shard counts only if its file holds exactly the rows `rows_of(index)` names now.
    """
    folder = job_dir / "shards"
    if not folder.is_dir():
        return
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)
    for index in range(n_shards):
        path = shard_path(job_dir, index)
        if not path.exists():
            continue
        expected = rows_of(index)  # outside the try: a dataset read error is not the file's
        try:
            # a shard of an earlier release lacks later columns: null there, kept
            table = read_shard(job_dir, index)
            ok = table.column(ROW).to_pylist() == expected
        except (pa.ArrowException, OSError, ValueError) as exc:
            log.warning("discarding unreadable checkpoint %s: %s", path, exc)
            ok = False
        if ok:
            yield index, table
        else:
            log.warning("discarding checkpoint %s: it does not match shard %d", path, index)
            path.unlink(missing_ok=True)


def category_counts(tables: Sequence[pa.Table]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for table in tables:
        counts.update(c for c in table.column("slick_category").to_pylist() if c)
    return {c: counts.get(c, 0) for c in CATEGORIES}



def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {c: a.get(c, 0) + b.get(c, 0) for c in CATEGORIES}
