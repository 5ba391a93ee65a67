"""Wire schemas of datasets and probe jobs: parameters, progress, job states, errors."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProbeMode = Literal["adaptive", "full", "fast", "exact"]
PromptFormat = Literal["plain", "chat"]
MatchMode = Literal["exact", "squad", "contains"]
MultiAnswer = Literal["aliases", "skip"]
AnswerKindChoice = Literal["auto", "short", "long"]
FactNer = Literal["auto", "spacy", "rules"]
FactRule = Literal["position", "sentence"]
UnknownAction = Literal["drop", "relabel"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Category = Literal["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
CATEGORIES: tuple[str, ...] = get_args(Category)  # the names, defined once


class ProbeParams(BaseModel):
    """Everything that decides a probe's result. Defaults are the paper's protocol.

    `mode="full"` draws all n_prompts greedy answers and n_prompts * n_samples samples per
    row. `mode="adaptive"` gives identical categories for less work: rows with a correct
    greedy answer need no samples, and a row's sampling stops at its first correct sample.
    Every sample draws from its own random stream, so both modes see the same samples.
    `mode="exact"` computes each prompt's chance of a correct sample instead of drawing
    samples. Left unset, the service picks exact where the engine can enumerate
    continuations, else adaptive (`probing.params.resolve_mode`); a job records the mode it ran.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_prompts: int = Field(10, ge=1, le=100, description="N_ex: few-shot prompts per row.")
    k_shot: int = Field(4, ge=0, le=32, description="Exemplars per prompt, from the row's group.")
    n_samples: int = Field(16, ge=1, le=256, description="Samples per prompt (temperature > 0).")
    temperature: float = Field(0.5, gt=0.0, le=5.0, description="Sampling temperature.")
    top_k: int = Field(40, ge=0, le=10_000, description="Top-k for sampling; 0 disables it.")
    max_new_tokens: int = Field(24, ge=1, le=512, description="Token limit of one answer.")
    mode: ProbeMode | None = Field(
        None,
        description="'full' (paper protocol), 'adaptive' (same categories, less work), "
        "'exact' (no sampling: each prompt's chance that a sample is correct computed, the "
        "category drawn from the protocol's odds) or 'fast' (teacher-forced gold answers; an "
        "approximation). Unset: 'exact' where the engine can enumerate continuations "
        "(transformers) and top_k >= 1, else 'adaptive'.",
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

    @model_validator(mode="after")
    def _exact_needs_top_k(self) -> ProbeParams:
        if self.mode == "exact" and self.top_k == 0:
            raise ValueError("mode 'exact' needs top_k >= 1 (it expands the top-k tokens of "
                             "every step)")
        return self


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


# The dataset formats a file name's suffix says (before any ".gz"): the client names the
# upload's format from it, the server reads a file by it.
DATASET_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class DatasetPublic(BaseModel):
    """An uploaded dataset, stored once per content hash."""

    id: str
    name: str | None = None
    format: str
    kind: str = Field(description="'qa' (question + answer/answers) or 'chat' (messages).")
    shape: str | None = Field(None, description="The row shape detected: 'qa', 'alpaca' "
                              "(instruction/input/output), 'chat' (OpenAI messages) or "
                              "'sharegpt' (conversations of from/value turns).")
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
