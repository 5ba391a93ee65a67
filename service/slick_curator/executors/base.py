"""The seam between a probe job and where its shards are probed.

The job code (`jobs.execute.run_job`) reads the dataset, skips checkpointed shards, writes each
shard's checkpoint and the result; a `ShardExecutor` only probes shards. `LocalExecutor` probes
them in turn on one engine in this process; `ray_executor.RayExecutor` on engine actors of a Ray
cluster, in parallel.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slick_curator.engines.base import Engine

if TYPE_CHECKING:
    import pyarrow as pa

    from slick_curator.probing.pipeline import ProbeRun

__all__ = ["LocalExecutor", "ProbedShard", "ShardExecutor"]

OnGenerated = Callable[[int], None]


@dataclass
class ProbedShard:
    """One shard of a job, ready to be probed (or already probed elsewhere).

    `probe(on_generated)` returns the shard's results table, calling `on_generated(n)` as
    generations finish (all at once for a shard that was probed elsewhere).
    """

    index: int
    rows: list
    probe: Callable[[OnGenerated], pa.Table]


class ShardExecutor(abc.ABC):
    """Where a job's shards are probed."""

    @abc.abstractmethod
    def probe_shards(self, run: ProbeRun, shards: Iterable[tuple[int, list]], *, seed: int,
                     check: Callable[[], None]) -> Iterator[ProbedShard]:
        """The shards ((index, rows) pairs) of `run`, in the order they are ready. `seed` is
        the job's sampling seed; `check` may raise to stop the job while shards wait."""

    @abc.abstractmethod
    def info(self) -> dict[str, str]:
        """What probes, for result metadata (`Engine.info` and where it runs)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Free the engines."""

    def __enter__(self) -> ShardExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(ShardExecutor):
    """Every shard in turn, on one engine in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def probe_shards(self, run: ProbeRun, shards: Iterable[tuple[int, list]], *, seed: int,
                     check: Callable[[], None]) -> Iterator[ProbedShard]:
        self.engine.seed = seed
        for index, rows in shards:
            yield ProbedShard(index, rows,
                              lambda on_generated, rows=rows: run.probe_shard(
                                  self.engine, rows, on_generated))

    def info(self) -> dict[str, str]:
        return self.engine.info()

    def close(self) -> None:
        self.engine.close()
