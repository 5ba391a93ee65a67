"""What crosses the process boundary between the API process and its worker (all picklable).

Parent -> worker: a `JobSpec` to run, or None to exit. Worker -> parent: `Ready`/`LoadFailed`
once after loading the engine, then per job `Progress` updates, one `ShardDone` per
checkpointed shard, and one `Finished`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slick_curator.engines.factory import EngineSpec


@dataclass(frozen=True)
class EngineKey:
    """Which loaded engine a job needs; a different key means a fresh worker process."""

    engine: str
    model: str


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker: the engine to load and how to log."""

    key: EngineKey
    device: str | None
    cache_dir: str
    engine_options: dict[str, Any]
    parent_pid: int
    log_level: str = "INFO"
    log_json: bool = False
    progress_interval_s: float = 0.5
    executor: Any = None  # executors.RayOptions: probe on a Ray cluster; None: here

    def engine_spec(self) -> EngineSpec:
        return EngineSpec(engine=self.key.engine, model=self.key.model,
                          options=self.engine_options, device=self.device,
                          cache_dir=self.cache_dir)


@dataclass(frozen=True)
class DatasetSource:
    """Where a stored dataset's rows are: parsed at upload (`parsed`), or, for a dataset
    stored before that existed (or whose table has no Parquet form), the file to re-read
    exactly as it was read at upload time.

    `limits` (a probing.read_limits.ReadLimits) are the server's, so a re-read is bounded too.
    """

    path: str
    format: str
    name: str | None
    columns: dict[str, Any]
    max_text_chars: int | None
    limits: Any = None
    parsed: str | None = None  # its rows as parsed at upload (probing.parsed), read instead


@dataclass(frozen=True)
class JobSpec:
    """One probe to run (or resume) in the worker."""

    id: str
    dataset: DatasetSource
    exemplars: DatasetSource | None
    params: dict[str, Any]
    shard_size: int
    job_dir: str
    model: str
    dataset_id: str
    exemplar_dataset_id: str | None = None


@dataclass(frozen=True)
class Ready:
    key: EngineKey
    info: dict[str, str]


@dataclass(frozen=True)
class LoadFailed:
    key: EngineKey
    error: str


@dataclass(frozen=True)
class Progress:
    job_id: str
    done: int
    total: int
    rate: float | None
    eta_s: float | None
    generations: int = 0  # since the previous message


@dataclass(frozen=True)
class ShardDone:
    job_id: str
    index: int
    rows: int
    generated_tokens: int
    done: int
    total: int
    rate: float | None
    eta_s: float | None
    counts: dict[str, int] = field(default_factory=dict)
    generations: int = 0


@dataclass(frozen=True)
class Finished:
    job_id: str
    status: str  # succeeded | failed | cancelled
    error: str | None = None
    counts: dict[str, int] | None = None
