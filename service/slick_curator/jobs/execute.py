"""Run one probe job inside the worker: resume from checkpoints, shard by shard, then annotate.

Shards already on disk are skipped (ProbeRun fixes shard boundaries, so a resumed job computes
every row once and batches it as an uninterrupted run would). Progress and category counts go
to the API process through `report`; a cancel flag is honoured between engine calls.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from slick_curator.atomic_files import write_parquet_atomic
from slick_curator.executors.base import OnGenerated, ShardExecutor
from slick_curator.jobs import checkpoints
from slick_curator.jobs.messages import DatasetSource, Finished, JobSpec, Progress, ShardDone
from slick_curator.probing.annotated_writer import write_annotated
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.parsed import read_parsed
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.progress import ProgressTracker
from slick_curator.probing.reading import ColumnMap, Dataset, ReadLimits, read_dataset

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The job was cancelled (raised from inside the engine-call callback)."""


class ParentGone(SystemExit):
    """The API process died; the worker must stop before writing anything else."""


# What errors call a dataset uploaded without a file name (never the path it is stored at).
UNNAMED_UPLOAD = "the uploaded file"


def load_dataset(source: DatasetSource, *, lazy: bool = False) -> Dataset:
    """A stored dataset: its rows as parsed at upload (`lazy`: left in their files until
    read, see `read_parsed`), else its file re-read with the column map and limits it was
    accepted with."""
    if source.parsed is not None:
        parsed = read_parsed(Path(source.parsed), lazy=lazy)
        if parsed is not None:
            return parsed
    return read_dataset(source.path, format=source.format, name=source.name or UNNAMED_UPLOAD,
                        columns=ColumnMap(**source.columns), on_error="skip",
                        max_text_chars=source.max_text_chars,
                        limits=source.limits or ReadLimits())


class InShardEstimate:
    """Rows done inside a running shard, estimated from generations so rate and ETA move.

    Rows of a shard finish together, so this guesses from generations per row: measured on
    this run's finished shards, else the full-protocol upper bound. Never reaches the shard's
    size; the checkpoint makes that exact.
    """

    def __init__(self, params: ProbeParams) -> None:
        self.bound = params.n_prompts * (1 + params.n_samples)
        self.generations = 0
        self.rows = 0

    def per_row(self) -> float:
        return self.generations / self.rows if self.rows else float(self.bound)

    def rows_done(self, shard_rows: int, generations: int) -> int:
        return min(shard_rows - 1, int(generations / max(self.per_row(), 1e-9)))

    def shard_finished(self, rows: int, generations: int) -> None:
        self.rows += rows
        self.generations += generations


def run_job(
    executor: ShardExecutor,
    job: JobSpec,
    report: Callable[[object], None],
    cancelled: Callable[[], bool],
    parent_alive: Callable[[], bool],
    progress_interval_s: float = 0.5,
) -> Finished:
    """Probe (or resume) `job`; returns the `Finished` message (cancelled or succeeded)."""
    job_dir = Path(job.job_dir)
    result_path = job_dir / "result.parquet"
    if result_path.exists():  # finished before a crash, just not recorded as finished
        table = pq.read_table(result_path, columns=["slick_category"])
        return Finished(job.id, "succeeded", counts=checkpoints.category_counts([table]))

    params = ProbeParams(**job.params)
    dataset = load_dataset(job.dataset, lazy=True)
    exemplars = load_dataset(job.exemplars, lazy=True) if job.exemplars else None
    run = ProbeRun(dataset, params, exemplars=exemplars, shard_size=job.shard_size)
    for warning in run.warnings:
        log.warning("%s", warning)
    # The shards on disk are counted one at a time; results are assembled from there at the end.
    done: set[int] = set()
    resumed, counts = 0, checkpoints.category_counts([])
    for index, table in checkpoints.finished_shards(job_dir, run.n_shards, run.shard_rows):
        done.add(index)
        resumed += table.num_rows
        counts = checkpoints.add_counts(counts, checkpoints.category_counts([table]))
    tracker = ProgressTracker(run.total, done=resumed)
    estimate = InShardEstimate(params)
    if done:
        log.info("resuming: %d of %d shards already checkpointed", len(done), run.n_shards)
    snap = tracker.snapshot()
    report(Progress(job.id, snap.done, snap.total, snap.rate, snap.eta_s))

    def check() -> None:
        if not parent_alive():
            raise ParentGone(1)
        if cancelled():
            raise JobCancelled()

    states: dict[int, dict] = {}

    def watch(index: int, rows: list) -> OnGenerated:
        base = tracker.done
        state = states[index] = {"gens": 0, "unsent": 0, "sent_at": time.monotonic(),
                                 "base": base}

        def on_generated(n: int) -> None:
            state["gens"] += n
            state["unsent"] += n
            check()
            now = time.monotonic()
            if now - state["sent_at"] >= progress_interval_s:
                inside = estimate.rows_done(len(rows), state["gens"])
                snap = tracker.advance(max(0, base + inside - tracker.done))
                report(Progress(job.id, snap.done, snap.total, snap.rate, snap.eta_s,
                                generations=state["unsent"]))
                state["unsent"], state["sent_at"] = 0, now

        return on_generated

    for index, rows, table in probe_checkpointed(executor, run, job_dir, done,
                                                 seed=params.seed, check=check, watch=watch):
        state = states.pop(index)
        base = state["base"]
        estimate.shard_finished(len(rows), state["gens"])
        # This shard's counts added, not every shard's recounted (a million rows are 31,250
        # shards of 32).
        counts = checkpoints.add_counts(counts, checkpoints.category_counts([table]))
        snap = tracker.advance(base + len(rows) - tracker.done)
        tokens = pc.sum(table.column("slick_generated_tokens")).as_py() or 0
        report(ShardDone(job.id, index, len(rows), tokens, snap.done, snap.total, snap.rate,
                         snap.eta_s, counts, generations=state["unsent"]))
        log.info("shard %d/%d checkpointed (%d rows)", index + 1, run.n_shards, len(rows))

    check()
    metadata = run.metadata(executor.info(), model=job.model, probe_id=job.id,
                            dataset_id=job.dataset_id, exemplar_dataset_id=job.exemplar_dataset_id,
                            source=job.dataset.name)
    # Streamed from the checkpoints, a shard at a time: never every result in memory.
    shards = (checkpoints.read_shard(job_dir, i) for i in range(run.n_shards))
    write_annotated(result_path, run.dataset.table, shards, run.dataset.errors,
                    metadata=metadata, unknown_action=params.unknown_action,
                    keep_prompts=params.keep_prompts)
    return Finished(job.id, "succeeded", counts=counts)


def probe_checkpointed(
    executor: ShardExecutor,
    run: ProbeRun,
    job_dir: Path,
    done: set[int],
    *,
    seed: int,
    check: Callable[[], None],
    watch: Callable[[int, list], OnGenerated],
) -> Iterator[tuple[int, list, pa.Table]]:
    """Probe the shards of `run` not in `done`, checkpointing each before yielding it
    (index, rows, table). `watch(index, rows)` gives the shard's generation callback; `check`
    may raise to stop. Service jobs (`run_job`) and `slick probe` both run through here."""
    for shard in executor.probe_shards(run, run.shards(done), seed=seed, check=check):
        check()
        table = shard.probe(watch(shard.index, shard.rows))
        check()  # a dead parent must not get a shard it never hears about; harmless if it did
        write_parquet_atomic(table, checkpoints.shard_path(job_dir, shard.index))
        yield shard.index, shard.rows, table


def parent_alive_check(parent_pid: int) -> Callable[[], bool]:
    return lambda: os.getppid() == parent_pid
