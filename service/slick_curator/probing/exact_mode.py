"""Exact mode: the paper's category distribution, computed instead of sampled.

Greedy answers are decoded as in every mode, so P_greedy is exact. For each prompt the engine
computes p_i, the chance that one sample (T, top-k) is judged correct, by expanding the tree of
continuations that can still match (`Engine.match_probabilities`; the mass left unexpanded is
at most `bound` per prompt). Then, for a unit whose greedy answers are all wrong,
P(WeaklyKnown) = 1 - prod_i (1 - p_i)^n_samples: the chance that the full protocol's samples
hit a gold at least once. The unit's category is drawn from these probabilities with its own
random stream, so over many rows the categories are distributed as the full protocol's are,
and a rerun draws the same. The expected P_sample, mean_i p_i, is exact on every unit.
"""

from __future__ import annotations

import math
import random

from slick_curator.engines.base import (
    Engine,
    GenerationRequest,
    MatchProbability,
    MatchRequest,
    SamplingParams,
)
from slick_curator.engines.stream_keys import stream_key
from slick_curator.probing.categories import Category, categorize
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.units import Unit

__all__ = ["category_probabilities", "match_probabilities", "run_exact"]

# Mass per prompt left unexpanded at most: p_i is exact to this, P(WeaklyKnown) to about
# n_prompts * n_samples times it.
BOUND = 1e-4


def match_probabilities(engine: Engine, units: list[Unit], requests: list[GenerationRequest],
                        greedy: SamplingParams | None = None, bound: float = BOUND
                        ) -> list[MatchProbability]:
    """Each prompt's chance that one sample is correct (`requests`: one sampling request per
    unit and prompt, in unit order, built as for sampling: prompt, stream, hints). With
    `greedy`, an engine that can decodes the greedy answers in the same pass."""
    calls = [MatchRequest(request, unit.matcher, greedy)
             for unit, request in zip((u for u in units for _ in u.prompts), requests,
                                      strict=True)]
    return engine.match_probabilities(calls, bound=bound) if calls else []


def run_exact(params: ProbeParams, units: list[Unit], found: list[MatchProbability]) -> None:
    """Each unit's category probabilities and drawn category from its prompts' `found` (in
    unit order). Greedy answers must be in already."""
    results = iter(found)
    for unit in units:
        matched = [next(results) for _ in unit.prompts]
        unit.p_samples = [r.probability for r in matched]
        unit.p_unexplored = max(r.unexplored for r in matched)
        unit.p_sample_estimate = sum(unit.p_samples) / len(unit.p_samples)
        unit.category_probs = category_probabilities(unit.greedy_correct, unit.p_samples,
                                                     params.n_samples)
        unit.decided_category = draw(unit.category_probs, stream_key(unit.stream, "exact"))


def category_probabilities(greedy_correct: list[bool], p_samples: list[float],
                           n_samples: int) -> dict[str, float]:
    """The probability of each category under the protocol, given exact greedy answers and
    the per-prompt chance p_i that one sample is correct."""
    probs = dict.fromkeys((c.value for c in Category), 0.0)
    if any(greedy_correct):
        probs[categorize(sum(greedy_correct), len(greedy_correct), 0, 0).value] = 1.0
        return probs
    # log1p keeps tiny p_i from vanishing in 1 - p_i
    miss = math.exp(sum(n_samples * math.log1p(-min(p, 1.0)) if p < 1.0 else -math.inf
                        for p in p_samples))
    probs[Category.WEAKLY_KNOWN.value] = 1.0 - miss
    probs[Category.UNKNOWN.value] = miss
    return probs


def draw(probs: dict[str, float], key: int) -> Category:
    """A category drawn from `probs` with the stream `key` (the same key, the same draw)."""
    u = random.Random(key).random()
    total = 0.0
    for category in Category:
        total += probs[category.value]
        if u < total:
            return category
    return Category.UNKNOWN  # rounding left u just past the total
