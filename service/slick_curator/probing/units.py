"""What the protocol runs on: a `Unit` is one thing probed (a short answer, or one fact of a
free-form one) with its counts so far; a `Row` holds a row's prompts and units."""

from __future__ import annotations

from dataclasses import dataclass, field

from slick_curator.probing.categories import Category
from slick_curator.probing.fact_matching import FactMatcher
from slick_curator.probing.facts import AnswerFacts, Fact
from slick_curator.probing.matching import Matcher
from slick_curator.probing.prompts import RowPrompts
from slick_curator.probing.records import Example

__all__ = ["Row", "Unit"]


@dataclass
class Unit:
    """One thing probed with the SliCK protocol: a short answer, or one fact of a long one."""

    example: Example
    matcher: Matcher | FactMatcher
    prompts: list[str]
    stream: int  # prompt i's samples draw from stream_key(stream, i)
    fact: Fact | None = None
    continues: bool = False  # a fact opening a later sentence: the answer goes on there
    greedy_answers: list[str] = field(default_factory=list)
    greedy_correct: list[bool] = field(default_factory=list)
    n_sample_correct: int = 0
    n_samples: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    p_sample_estimate: float | None = None
    # A category decided without drawing samples (fast and exact modes).
    decided_category: Category | None = None
    # Exact mode: p_i per prompt, the most mass any prompt left unexpanded, category odds.
    p_samples: list[float] | None = None
    p_unexplored: float | None = None
    category_probs: dict[str, float] | None = None


@dataclass
class Row:
    """One row of a shard: its prompts and its units (one, or one per fact)."""

    example: Example
    kind: str
    prompts: RowPrompts
    pool_group: str
    units: list[Unit]
    analysis: AnswerFacts | None = None
