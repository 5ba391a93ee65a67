"""What a probe found: one `RowResult` per row, one `FactResult` per fact of a free-form answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from slick_curator.probing.categories import Category

__all__ = ["FactResult", "RowResult"]


def _p_sample(result: FactResult | RowResult) -> float | None:
    """The paper's P_sample, or fast mode's estimate; None where sampling stopped early."""
    if result.p_sample_estimate is not None:
        return result.p_sample_estimate
    if not result.sampling_complete or result.n_samples == 0:
        return None
    return result.n_sample_correct / result.n_samples


@dataclass
class FactResult:
    """What the probe found for one fact of a free-form answer (offsets into the answer)."""

    text: str
    start: int
    end: int
    label: str
    sentence: int  # index into RowResult.sentences; -1 when the fact straddles two
    category: Category
    greedy_answers: list[str]
    greedy_correct: list[bool]
    n_sample_correct: int
    n_samples: int
    sampling_complete: bool
    p_sample_estimate: float | None = None
    category_probs: dict[str, float] | None = None  # exact mode (exact_mode.py)
    p_samples: list[float] | None = None
    p_unexplored: float | None = None

    @property
    def p_greedy(self) -> float:
        return sum(self.greedy_correct) / len(self.greedy_correct)

    @property
    def p_sample(self) -> float | None:
        return _p_sample(self)


@dataclass
class RowResult:
    """What the probe found for one row.

    In adaptive mode `n_samples` counts the samples actually drawn: 0 when greedy answers
    already decide the category, fewer than n_prompts * n_samples when sampling stopped at
    the first correct sample. `p_sample` is then None (it would not be the paper's estimate).

    A free-form row (`answer_kind` "long") is probed fact by fact: `facts` holds each fact's
    result, and the row-level fields are those of its least-known fact (`aggregate.py`). A
    free-form row with no fact has `category` None (status ``no_facts``).
    """

    row: int
    category: Category | None
    greedy_answers: list[str]
    greedy_correct: list[bool]
    n_sample_correct: int
    n_samples: int
    sampling_complete: bool
    exemplar_ids: list[list[str]]
    exemplar_sets: list[int] = field(default_factory=list)
    prompts: list[str] | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    p_sample_estimate: float | None = None  # fast/exact mode: expected P_sample, no draws
    category_probs: dict[str, float] | None = None  # exact mode: the protocol's odds
    p_samples: list[float] | None = None  # exact mode: p_i per prompt
    p_unexplored: float | None = None  # exact mode: the most mass a prompt left unexpanded
    answer_kind: str = "short"
    facts: list[FactResult] | None = None
    sentences: list[tuple[int, int]] | None = None
    exemplar_pool: str | None = None

    @property
    def n_greedy(self) -> int:
        return len(self.greedy_answers)

    @property
    def n_greedy_correct(self) -> int:
        return sum(self.greedy_correct)

    @property
    def p_greedy(self) -> float | None:
        if not self.greedy_correct:
            return None
        return self.n_greedy_correct / self.n_greedy

    @property
    def p_sample(self) -> float | None:
        return _p_sample(self)
