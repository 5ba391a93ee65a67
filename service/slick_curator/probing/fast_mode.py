"""Fast mode: categories from teacher-forced scores, without sampling.

Every alias of a short-form row is scored under every prompt (`Engine.score`), and every fact of
a free-form row from one teacher-forced pass of its answer per prompt (`Engine.score_spans`).
A unit is WeaklyKnown when no greedy answer is right and the full protocol's samples would more
likely than not hit a gold.
"""

from __future__ import annotations

import math

from slick_curator.engines.base import Engine, ScoreRequest, SpanScoreRequest
from slick_curator.probing.categories import Category, categorize
from slick_curator.probing.facts import Fact
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.units import Row, Unit

__all__ = ["run_scoring", "score_fast"]


def run_scoring(engine: Engine, params: ProbeParams, rows: list[Row]) -> None:
    """Fast mode, one engine call per answer kind: every alias of a short-form row under
    every prompt (`score`), and every fact of a free-form row from one teacher-forced pass
    of its answer per prompt (`score_spans`)."""
    lead = " " if params.prompt_format == "plain" else ""  # plain prompts end "A:"
    special = params.prompt_format != "chat"
    short = [row.units[0] for row in rows if row.kind == "short"]
    if short:
        scores = iter(engine.score([
            ScoreRequest(prompt, tuple(lead + alias for alias in u.example.answers),
                         temperature=params.temperature, top_k=params.top_k,
                         add_special_tokens=special)
            for u in short
            for prompt in u.prompts
        ]))
        for unit in short:
            score_fast(unit, [next(scores) for _ in unit.prompts], params.n_samples)
    long_rows = [row for row in rows if row.kind == "long" and row.units]
    if long_rows:
        scores = iter(engine.score_spans([
            SpanScoreRequest(prompt, lead + row.example.answers[0],
                             tuple(_fact_span(u.fact, row.example.answers[0], lead)
                                   for u in row.units),
                             temperature=params.temperature, top_k=params.top_k,
                             add_special_tokens=special)
            for row in long_rows
            for prompt in row.prompts.prompts
        ]))
        for row in long_rows:
            per_prompt = [next(scores) for _ in row.prompts.prompts]
            for f, unit in enumerate(row.units):
                score_fast(unit, [[facts[f]] for facts in per_prompt], params.n_samples)

def score_fast(unit: Unit, per_prompt, n_samples: int) -> None:
    """Fast-mode categories: greedy-correct prompts decide as usual; with none, the unit is
    WeaklyKnown when the full protocol's samples would more likely than not hit a gold."""
    answers = unit.example.answers if unit.fact is None else (unit.fact.text,)
    p_hit = []
    for scores in per_prompt:
        hit = [i for i, score in enumerate(scores) if score.greedy]
        unit.greedy_correct.append(bool(hit))
        # the answer as greedy decoding writes it (an alias), or None: not generated
        unit.greedy_answers.append(answers[hit[0]] if hit else None)
        p_hit.append(min(1.0, sum(score.probability for score in scores)))
    unit.p_sample_estimate = sum(p_hit) / len(p_hit)
    if any(unit.greedy_correct):
        unit.decided_category = categorize(sum(unit.greedy_correct), len(unit.greedy_correct), 0, 0)
    else:
        p_miss_all = math.prod((1.0 - p) ** n_samples for p in p_hit)
        unit.decided_category = (
            Category.WEAKLY_KNOWN if 1.0 - p_miss_all >= 0.5 else Category.UNKNOWN
        )


def _fact_span(fact: Fact, answer: str, lead: str) -> tuple[int, int]:
    """A fact's span in `lead + answer`, as its fact probe sees it: a fact that opens the
    answer is scored as the answer beginning with it, lead and leading spaces included."""
    opening = not answer[: fact.start].rstrip()
    return (0 if opening else len(lead) + fact.start, len(lead) + fact.end)
