"""Wire schemas: the JSON the service speaks, defined once, used by service and client."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ProbeMode = Literal["adaptive", "full", "fast"]
PromptFormat = Literal["plain", "chat"]
MatchMode = Literal["exact", "squad", "contains"]
MultiAnswer = Literal["aliases", "skip"]
AnswerKindChoice = Literal["auto", "short", "long"]
FactNer = Literal["auto", "spacy", "rules"]
FactRule = Literal["position", "sentence"]
UnknownAction = Literal["drop", "relabel"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")


class ProbeParams(BaseModel):
    """Everything that decides a probe's result. Defaults are the paper's protocol.

    `mode="full"` draws all n_prompts greedy answers and n_prompts * n_samples samples per
    row. `mode="adaptive"` gives identical categories for less work: rows with a correct
    greedy answer need no samples, and a row's sampling stops at its first correct sample.
    Every sample draws from its own random stream, so both modes see the same samples.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_prompts: int = Field(10, ge=1, le=100, description="N_ex: few-shot prompts per row.")
    k_shot: int = Field(4, ge=0, le=32, description="Exemplars per prompt, from the row's group.")
    n_samples: int = Field(16, ge=1, le=256, description="Samples per prompt (temperature > 0).")
    temperature: float = Field(0.5, gt=0.0, le=5.0, description="Sampling temperature.")
    top_k: int = Field(40, ge=0, le=10_000, description="Top-k for sampling; 0 disables it.")
    max_new_tokens: int = Field(24, ge=1, le=512, description="Token limit of one answer.")
    mode: ProbeMode = Field(
        "adaptive",
        description="'full' (paper protocol), 'adaptive' (same categories, less work) or "
        "'fast' (no sampling: teacher-forced gold answers; an approximation).",
    )
    prompt_format: PromptFormat = Field(
        "plain", description="'plain' Q:/A: lines, or 'chat' (the model's chat template)."
    )
    match: MatchMode = Field(
        "exact",
        description="'exact' (normalised, Unicode-aware), 'squad' (exactly the SQuAD / "
        "EntityQuestions EM normaliser) or 'contains'.",
    )
    multi_answer: MultiAnswer = Field(
        "aliases",
        description="Rows with several answers: 'aliases' (each counts as correct) or 'skip' "
        "(not probed, as the SliCK paper dropped them).",
    )
    answer_kind: AnswerKindChoice = Field(
        "auto",
        description="'auto' (a phrase is short-form, a sentence or more free-form: README), "
        "'short' (every answer judged whole, as the paper) or 'long' (every answer fact by fact).",
    )
    fact_ner: FactNer = Field(
        "auto",
        description="How facts of free-form answers are found: 'spacy' (NER), 'rules', or "
        "'auto' (spaCy when installed, else the rules).",
    )
    fact_match: FactRule = Field(
        "position",
        description="When a fact probe's continuation states the fact: 'position' (it begins "
        "with the fact; an opening fact anywhere in its first sentence) or 'sentence' "
        "(anywhere in its first sentence).",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed for exemplar draws and sampling.")
    unknown_action: UnknownAction = Field(
        "drop", description="Recommendation for Unknown rows: 'drop' or 'relabel'."
    )
    keep_prompts: bool = Field(False, description="Store the exact prompt texts per row.")
    prune_samples: bool = Field(
        True, description="Stop a sample once it can no longer match (never changes results)."
    )


class RowErrorPublic(BaseModel):
    """One bad input row: 0-based row number, the field at fault, and why."""

    row: int
    field: str
    reason: str


class ErrorDetail(BaseModel):
    """The one error shape of every 4xx/5xx response."""

    type: str = Field(description="Error class, e.g. 'invalid_request', 'not_found'.")
    message: str
    param: str | None = Field(None, description="The request parameter at fault, if any.")
    code: int = Field(description="HTTP status code.")
    errors: list[RowErrorPublic] | None = Field(None, description="Row-level dataset errors.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class DatasetPublic(BaseModel):
    """An uploaded dataset, stored once per content hash."""

    id: str
    name: str | None = None
    format: str
    kind: str = Field(description="'qa' (question + answer/answers) or 'chat' (messages).")
    rows: int = Field(description="Input rows, including bad ones.")
    valid_rows: int
    sha256: str
    size_bytes: int
    columns: list[str]
    groups: dict[str, int] = Field(default_factory=dict, description="Valid rows per group.")
    errors: list[RowErrorPublic] = Field(default_factory=list)
    created_at: dt.datetime


class ProbeCreate(ProbeParams):
    """Start a probe of an uploaded dataset. Unset model/engine use the service defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    dataset_id: str
    exemplar_dataset_id: str | None = Field(
        None, description="Dataset whose rows serve as few-shot exemplars (e.g. a dev split)."
    )
    model: str | None = None
    engine: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$",
        description="An engine the server allows (SLICK_ALLOWED_ENGINES; by default only its "
        "own), e.g. 'transformers', 'vllm' or 'openai'.",
    )

    def params(self) -> ProbeParams:
        return ProbeParams(**self.model_dump(include=set(ProbeParams.model_fields)))


class Progress(BaseModel):
    """Rows done of total, rows per second over the current run, seconds left."""

    done: int = 0
    total: int = 0
    rate: float | None = None
    eta_s: float | None = None


class ProbePublic(BaseModel):
    """A probe job and where it stands."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    dataset_id: str
    exemplar_dataset_id: str | None = None
    status: JobStatus
    model: str
    engine: str
    params: ProbeParams
    progress: Progress
    counts: dict[str, int] = Field(default_factory=dict, description="Rows per SliCK category.")
    error: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class ProbesPublic(BaseModel):
    """A page of probes, newest first, and the total count."""

    data: list[ProbePublic]
    count: int


class DatasetsPublic(BaseModel):
    """A page of datasets, newest first, and the total count."""

    data: list[DatasetPublic]
    count: int


# -- curation, reports and row queries --------------------------------------------------------

Category = Literal["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
CurationPolicy = Literal["filter", "relabel", "keep", "trim"]
CurationAction = Literal["keep", "drop", "relabel", "trim"]
ExportFormat = Literal["jsonl", "json", "csv", "parquet"]
EXPORT_FORMATS = ("jsonl", "json", "csv", "parquet")


class CurationParams(BaseModel):
    """How an annotated result becomes training data. Defaults: the paper's D_Known.

    `policy`: `filter` drops rows that count as unknown, `relabel` keeps their question and
    replaces the answer with `abstention`, `keep` changes nothing (annotations only), `trim`
    drops only the sentences of a free-form answer whose facts count as unknown when the rest
    stands on its own (else the row is dropped; short-form rows are dropped as by `filter`). A
    row counts as unknown when its category is in `unknown`, or, when `min_p_greedy` and/or
    `min_p_sample` are set, when it reaches neither threshold (a null P_sample, which adaptive
    mode leaves on rows it did not fully sample, falls back to the category rule).

    A free-form row is judged by its facts, each by that same rule: it counts as unknown when
    any fact does (its least-known fact; with categories alone, its `slick_category`), or, with
    `min_known_share`, when the share of its facts that count as known is below it. Free-form
    rows without facts (status `no_facts`) are kept by every policy.

    `max_share` and `caps` limit a category's share of the output (rows over it are dropped,
    picked with `seed`); `min_per_group` then restores dropped rows, best known first, until
    each group has that many where it can. Skipped (bad) rows are always dropped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: CurationPolicy = Field(
        "filter", description="'filter', 'relabel', 'keep' or 'trim' (free-form answers lose "
        "the sentences whose facts are unknown)."
    )
    unknown: tuple[Category, ...] = Field(
        ("Unknown",), min_length=1, description="Categories that count as unknown."
    )
    min_p_greedy: float | None = Field(
        None, ge=0.0, le=1.0, description="Known if P_greedy >= this (replaces `unknown`)."
    )
    min_p_sample: float | None = Field(
        None, ge=0.0, le=1.0, description="Known if P_sample >= this (replaces `unknown`)."
    )
    min_known_share: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Free-form rows: known if at least this share of their facts is known "
        "(replaces the least-known fact rule).",
    )
    max_share: float | None = Field(
        None, gt=0.0, le=1.0, description="Most any one category may make of the output."
    )
    caps: dict[Category, float] = Field(
        default_factory=dict, description="Most a given category may make of the output."
    )
    min_per_group: int = Field(
        0, ge=0, le=10_000_000, description="Keep at least this many rows per group."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the cap's row selection.")
    abstention: str = Field(
        "I don't know.", min_length=1, max_length=2000, description="Answer of relabelled rows."
    )

    @field_validator("caps")
    @classmethod
    def _caps_are_shares(cls, caps: dict[str, float]) -> dict[str, float]:
        for category, share in caps.items():
            if not 0.0 < share <= 1.0:
                raise ValueError(f"cap of {category} must be in (0, 1], got {share}")
        return caps

    @property
    def thresholds(self) -> bool:
        """Whether P_greedy / P_sample thresholds decide instead of categories."""
        return self.min_p_greedy is not None or self.min_p_sample is not None

    def cap_of(self, category: str) -> float | None:
        """The share cap that applies to `category` (the tighter of `caps` and `max_share`)."""
        caps: dict[str, float] = dict(self.caps)
        limits = [c for c in (caps.get(category), self.max_share) if c is not None]
        return min(limits) if limits else None


class CurationSummary(BaseModel):
    """What a policy did: rows in = kept + dropped + relabelled + trimmed, per category and
    why."""

    params: CurationParams
    rows: int
    kept: int
    dropped: int
    relabelled: int
    trimmed: int = Field(0, description="Free-form rows kept without their unknown sentences.")
    by_category: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Per category ('skipped' for bad rows, 'no_facts' for free-form rows "
        "without facts): action -> rows.",
    )
    reasons: dict[str, int] = Field(default_factory=dict, description="Reason -> rows.")
    warnings: list[str] = Field(default_factory=list)


class HistogramPublic(BaseModel):
    """Counts per bin, split by category. Bins: exactly 0, ten of (0, 1), exactly 1."""

    bins: list[str]
    counts: dict[str, list[int]] = Field(description="Category -> count per bin.")
    missing: int = Field(0, description="Probed rows without a value (null P_sample).")


class GroupPublic(BaseModel):
    """One group's probed rows per category and its skipped rows."""

    group: str
    rows: int
    counts: dict[str, int]


class ExamplePublic(BaseModel):
    """One annotated row as the report shows it."""

    row: int
    id: str | None = None
    group: str | None = None
    category: str | None = None
    question: str | None = None
    gold: list[str] = Field(default_factory=list)
    greedy_answers: list[str] = Field(default_factory=list)
    greedy_correct: list[bool] = Field(default_factory=list)
    p_greedy: float | None = None
    p_sample: float | None = None
    n_sample_correct: int | None = None
    n_samples: int | None = None
    error: str | None = None


class FactPublic(BaseModel):
    """One fact of a free-form answer: `answer[start:end] == text` (character offsets)."""

    text: str
    start: int
    end: int
    label: str
    category: str
    p_greedy: float | None = None
    p_sample: float | None = None


class FreeFormExamplePublic(BaseModel):
    """One free-form row as the report shows it: its answer with the facts in it, and what
    the report's policy does with it (`action`, `reason`)."""

    row: int
    id: str | None = None
    group: str | None = None
    category: str | None = Field(None, description="The row's: its least-known fact's.")
    question: str | None = None
    answer: str | None = Field(None, description="The answer as probed (stripped).")
    facts: list[FactPublic] = Field(default_factory=list)
    known_share: float | None = None
    action: str | None = None
    reason: str | None = None


class FactsReportPublic(BaseModel):
    """Free-form rows, judged fact by fact: facts per category and per label, and examples."""

    rows: int = Field(description="Free-form rows (answer kind long), with or without facts.")
    no_facts: int = Field(description="Free-form rows in which no fact was found.")
    facts: int = Field(description="Facts probed in all.")
    categories: dict[str, int] = Field(description="Facts per category.")
    by_label: dict[str, dict[str, int]] = Field(
        description="Fact label (PERSON, GPE, DATE, …) -> category -> facts; most facts first.")
    examples: dict[str, list[FreeFormExamplePublic]] = Field(
        description="Row category (and 'no_facts') -> example free-form rows.")


class RunPublic(BaseModel):
    """How the annotated file was made: model, engine, parameters, input."""

    model_config = ConfigDict(protected_namespaces=())

    probe_id: str | None = None
    source: str | None = None
    model: str | None = None
    engine: dict[str, str] = Field(default_factory=dict)
    params: dict[str, object] = Field(default_factory=dict)
    dataset: dict[str, object] = Field(default_factory=dict)
    exemplar_source: str | None = None
    created_at: str | None = None
    version: str | None = None


class ExemplarSetPublic(BaseModel):
    """One exemplar set of a group: how often its prompts' greedy answers were correct,
    against the group's other prompts, and whether that makes it an outlier.

    A set is (group, index): `index` is its place in the group's list of sets in the file
    metadata (`slick_exemplar_sets` per prompt). Main sets come first, then spares (used by
    rows whose own question is in a main set). `outlier` when the set's accuracy differs from
    that of its group's other unflagged sets (`rest_*`) by more than 15 points and a
    two-proportion z-test gives |z| > `ReportPublic.exemplar_sets_min_z` (3, more for files
    with many sets); `reason` then says by how much.
    """

    group: str
    index: int = Field(description="Index in the group's exemplar sets (file metadata).")
    spare: bool = Field(False, description="A spare set, beyond the n_prompts main sets.")
    exemplar_ids: list[str] = Field(default_factory=list)
    group_sets: int = Field(description="Exemplar sets the group used in all.")
    rows: int = Field(description="Probed rows with a prompt built from this set.")
    prompts: int = Field(description="Row-prompts built from this set.")
    correct: int = Field(description="Of those, prompts whose greedy answer was correct.")
    accuracy: float
    rest_prompts: int = Field(
        description="The group's prompts built from its other sets, flagged ones left out.")
    rest_correct: int
    rest_accuracy: float | None = Field(None, description="None: the group has no other set.")
    z: float | None = Field(None, description="Two-proportion z, this set vs the rest.")
    outlier: bool = False
    reason: str | None = None


class ReportPublic(BaseModel):
    """Everything the HTML report shows, as data."""

    run: RunPublic
    rows: int
    probed: int
    skipped: int
    categories: dict[str, int] = Field(description="Probed rows per category.")
    shares: dict[str, float] = Field(description="Category share of the probed rows.")
    groups: list[GroupPublic] = Field(description="Largest groups first (at most 60).")
    groups_total: int
    p_greedy: HistogramPublic
    p_sample: HistogramPublic
    tokens: dict[str, int] = Field(default_factory=dict)
    curation: CurationSummary
    examples: dict[str, list[ExamplePublic]] = Field(description="Category -> example rows.")
    no_facts: int = Field(0, description="Free-form rows without facts (kept, uncategorised).")
    answer_kinds: dict[str, int] = Field(
        default_factory=dict, description="Probed and no_facts rows per answer kind (short, "
                                          "long); empty for files without the column.")
    facts: FactsReportPublic | None = Field(
        None, description="The fact view, for files with free-form rows.")
    skipped_rows: list[ExamplePublic] = Field(default_factory=list)
    exemplar_sets: list[ExemplarSetPublic] = Field(
        default_factory=list,
        description="Per exemplar set: greedy accuracy and outlier flag. Every flagged set, "
        "then the sets of the largest groups (at most 200 listed); empty for k_shot = 0 and "
        "files written before exemplar sets were recorded.",
    )
    exemplar_sets_total: int = Field(0, description="Exemplar sets used in the file.")
    exemplar_sets_flagged: int = Field(0, description="Outlier sets in the file.")
    exemplar_sets_min_z: float = Field(
        3.0, description="The |z| an outlier set exceeded: 3, or the Bonferroni bound for 1% "
        "over the file's sets when higher.")
    warnings: list[str] = Field(
        default_factory=list, description="The probe's warnings (file metadata).")


class RowsPublic(BaseModel):
    """A page of annotated rows (`slick_row` is the 0-based input row) and the match count."""

    data: list[dict[str, object]]
    count: int
    limit: int
    offset: int
    columns: list[str]


# -- fine-tune and verify -----------------------------------------------------------------------

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
