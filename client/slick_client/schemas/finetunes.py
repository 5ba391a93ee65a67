"""Wire schemas of fine-tune-and-verify jobs: parameters, progress, reports."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slick_client.schemas.probes import Category, JobStatus, Progress

FinetuneVariant = Literal["original", "filter", "relabel", "trim"]
FinetuneMethod = Literal["lora", "full"]
TrainableGroup = Literal["all", "attention", "mlp"]
EvalPromptStyle = Literal["zero-shot", "few-shot"]
FINETUNE_VARIANTS = ("original", "filter", "relabel")  # the default comparison
ALL_FINETUNE_VARIANTS = (*FINETUNE_VARIANTS, "trim")
CHECKPOINTS = ("early_stop", "convergence")


class FinetuneParams(BaseModel):
    """How each variant is trained and evaluated. Every variant gets the same settings.

    Variants: `original` trains on every probed row, `filter` drops the rows whose category is
    in `unknown`, `relabel` keeps them with `abstention` as the answer, `trim` trains on
    free-form answers without their unknown sentences (the curation policy of that name). Each
    is its curation policy: free-form rows count as unknown by their least-known fact, or by
    `min_known_share`. Training uses the probe's prompt format (plain `Q: …\\nA:` or the chat
    template) with the loss on the answer only.
    Dev accuracy is measured after every epoch; the best-dev epoch (`early_stop`) and the last
    one (`convergence`) are both evaluated on the evaluation set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: FinetuneMethod = Field("lora", description="'lora' (adapters) or 'full'.")
    lora_r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    lora_alpha: float = Field(32.0, gt=0, le=4096, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on LoRA inputs.")
    lora_targets: tuple[str, ...] | None = Field(
        None, description="Module names LoRA adapts; default: those of `trainable`.")
    trainable: TrainableGroup = Field(
        "all", description="Parameters trained, the rest frozen: 'all', 'attention' (the "
                           "q/k/v/o projections) or 'mlp'.")
    epochs: int = Field(3, ge=1, le=1000, description="Passes over the training rows.")
    max_steps: int | None = Field(
        None, ge=1, le=10_000_000, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, le=1.0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=10.0, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, le=1_000_000, description="Linear warm-up steps.")
    batch_size: int = Field(8, ge=1, le=4096, description="Rows per optimizer step.")
    max_length: int = Field(256, ge=8, le=32_768, description="Longest prompt + answer, tokens.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of shuffling, splits, init.")
    dev_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of each group's rows held out as dev.")
    dev_max: int = Field(200, ge=0, le=100_000, description="Most dev rows in all.")
    patience: int | None = Field(
        None, ge=1, le=1000, description="Stop after this many epochs without a better dev "
                                        "accuracy (default: train every epoch).")
    unknown: tuple[Category, ...] = Field(
        ("Unknown",), min_length=1, description="Categories `filter` drops / `relabel` relabels.")
    min_known_share: float | None = Field(
        None, ge=0.0, le=1.0, description="Free-form rows count as known when at least this "
                                         "share of their facts is (default: every fact).")
    abstention: str = Field(
        "I don't know.", min_length=1, max_length=200, description="Answer of relabelled rows.")
    abstention_phrases: tuple[str, ...] = Field(
        (), description="More answers that count as abstaining (the relabel phrase always does).")
    kl_weight: float = Field(
        0.0, ge=0.0, le=100.0, description="Self-distillation: weight of KL(base || tuned) on "
                                           "the answer tokens; 0 disables it.")
    eval_prompt: EvalPromptStyle = Field(
        "zero-shot", description="'zero-shot' (the training format) or 'few-shot' (k_shot "
                                 "exemplars of the question's group, as the probe asked).")
    max_new_tokens: int = Field(24, ge=1, le=512, description="Token limit of an answer.")
    bootstrap: int = Field(1000, ge=0, le=100_000, description="Bootstrap resamples for 95% "
                                                              "intervals; 0 disables them.")
    save_checkpoints: bool = Field(
        False, description="Save the early-stop and convergence weights (adapters for LoRA).")


class FinetuneCreate(BaseModel):
    """Fine-tune the probed model on each variant of a finished probe and verify the result.

    The evaluation set is an uploaded dataset (the service probes it with the training probe's
    settings, so results break down by category) or an already finished probe of one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_id: str = Field(description="A succeeded probe of the training data.")
    eval_dataset_id: str | None = Field(None, description="Held-out questions to evaluate on.")
    eval_probe_id: str | None = Field(
        None, description="Instead of eval_dataset_id: a succeeded probe of the held-out set.")
    variants: list[FinetuneVariant] = Field(
        default_factory=lambda: list(FINETUNE_VARIANTS), min_length=1,
        max_length=len(ALL_FINETUNE_VARIANTS),
        description="Variants to train and compare.")
    params: FinetuneParams = Field(default_factory=FinetuneParams)

    @field_validator("variants")
    @classmethod
    def _distinct(cls, variants: list[str]) -> list[str]:
        if len(set(variants)) != len(variants):
            raise ValueError("variants must be distinct")
        return variants


class FinetuneProgress(Progress):
    """Optimizer steps done of total (all variants), steps per second, seconds left; rows
    are training rows seen. `stage` says what runs now."""

    rows_done: int = 0
    rows_total: int = 0
    stage: str | None = Field(None, description="queued, eval_probe, training, evaluating, "
                                                "reporting or done.")
    variant: str | None = None
    epoch: int | None = None
    variants_done: int = 0


class Interval(BaseModel):
    """A value with its bootstrap 95% interval (null where undefined, e.g. no answers)."""

    value: float | None = None
    low: float | None = None
    high: float | None = None


class EvalMetrics(BaseModel):
    """Scores on a set of evaluation questions. Answered = neither empty nor an abstention;
    hallucinated = answered and wrong; precision = correct / answered."""

    n: int
    correct: int
    answered: int
    abstained: int
    hallucinated: int
    accuracy: Interval
    hallucination: Interval
    abstention: Interval
    precision: Interval


class CheckpointMetrics(BaseModel):
    """One checkpoint of a variant on the evaluation set, overall and per SliCK category."""

    checkpoint: str = Field(description="early_stop (best dev epoch) or convergence (last).")
    epoch: int
    overall: EvalMetrics
    by_category: dict[str, EvalMetrics] = Field(default_factory=dict)
    wrong_change: Interval | None = Field(
        None, description="Relative change in wrong answers vs `original` at the same "
                          "checkpoint: (W - W_original) / W_original.")


class EpochPoint(BaseModel):
    """One point of a learning curve: after `epoch` epochs (0 = before training)."""

    epoch: int
    steps: int
    train_loss: float | None = None
    train_fit_known: float | None = Field(
        None, description="Share of known training rows whose target greedy decoding gives.")
    train_fit_unknown: float | None = Field(
        None, description="The same for unknown training rows (relabelled ones: the phrase).")
    dev_accuracy: float | None = None
    dev_abstention: float | None = None


class VariantReport(BaseModel):
    """How one variant was trained and how it scores."""

    variant: str
    train_rows: int
    relabelled_rows: int = 0
    train_categories: dict[str, int] = Field(default_factory=dict)
    epochs: int = Field(description="Epochs trained.")
    steps: int
    best_epoch: int
    train_seconds: float
    weight_change: float = Field(description="L2 norm of the change of the trained weights.")
    curve: list[EpochPoint]
    early_stop: CheckpointMetrics
    convergence: CheckpointMetrics


class ComparisonPublic(BaseModel):
    """A variant minus `original` on one metric at one checkpoint (paired bootstrap)."""

    variant: str
    baseline: str = "original"
    checkpoint: str
    metric: str
    difference: Interval


class FinetuneReportPublic(BaseModel):
    """Everything the fine-tune report shows, as data."""

    model_config = ConfigDict(protected_namespaces=())

    finetune_id: str | None = None
    probe_id: str | None = None
    model: str | None = None
    source: str | None = None
    eval_source: str | None = None
    created_at: str | None = None
    params: FinetuneParams
    prompt_format: str = "plain"
    eval_rows: int
    eval_categories: dict[str, int] = Field(default_factory=dict)
    dev_rows: int
    excluded_rows: int = Field(0, description="Training rows dropped because their question or "
                                              "subject is in the evaluation set.")
    variants: list[VariantReport]
    comparisons: list[ComparisonPublic] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)


class FinetunePublic(BaseModel):
    """A fine-tune-and-verify job and where it stands."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    probe_id: str
    eval_dataset_id: str | None = None
    eval_probe_id: str | None = None
    status: JobStatus
    model: str
    variants: list[FinetuneVariant]
    params: FinetuneParams
    progress: FinetuneProgress
    results: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="Per variant, convergence accuracy, hallucination, "
                                          "abstention and precision (once succeeded).")
    error: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class FinetunesPublic(BaseModel):
    """A page of fine-tune jobs, newest first, and the total count."""

    data: list[FinetunePublic]
    count: int
