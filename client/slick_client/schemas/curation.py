"""Wire schemas of curation, reports and row queries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slick_client.schemas.probes import Category

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
