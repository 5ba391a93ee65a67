"""What a training process tells its parent (all picklable), and the job it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slick_curator.finetune.data import EvalRow, TrainRow

__all__ = ["Cancelled", "EpochDone", "Failed", "Finished", "Stage", "Started", "StepDone",
           "VariantJob", "planned_steps"]


@dataclass(frozen=True)
class VariantJob:
    """One training run: a variant's rows, the shared dev and evaluation sets, the settings."""

    variant: str
    model_path: str
    params: dict[str, Any]
    rows: list[TrainRow]
    dev: list[EvalRow]
    eval: list[EvalRow]
    prompt_format: str
    match: str
    k_shot: int
    out_dir: str
    exemplars: list[TrainRow] = field(default_factory=list)
    sentences: bool = False  # answers in sentences: judged by finetune.sentence_judge
    device: str | None = None
    log_level: str | None = None
    log_json: bool = False
    job_id: str | None = None


def planned_steps(rows: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    """Optimizer steps a run takes unless early stopping (patience) ends it sooner."""
    steps = epochs * -(-rows // batch_size)
    return steps if max_steps is None else min(steps, max_steps)


@dataclass(frozen=True)
class VariantMessage:
    """A message about one variant's training run."""

    variant: str


@dataclass(frozen=True)
class Started(VariantMessage):
    steps_total: int
    rows: int


@dataclass(frozen=True)
class StepDone(VariantMessage):
    epoch: int
    step: int
    rows: int
    loss: float


@dataclass(frozen=True)
class Stage(VariantMessage):
    stage: str  # evaluating_dev, evaluating, saving
    epoch: int | None = None


@dataclass(frozen=True)
class EpochDone(VariantMessage):
    point: dict[str, Any]


@dataclass(frozen=True)
class Finished(VariantMessage):
    outcome: dict[str, Any]


@dataclass(frozen=True)
class Failed(VariantMessage):
    error: str


@dataclass(frozen=True)
class Cancelled(VariantMessage):
    """The run stopped at a cancel request."""
