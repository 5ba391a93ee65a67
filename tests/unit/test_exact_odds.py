"""Exact mode's protocol logic (probing.exact_mode), on the scripted fake engine: category
odds from exact greedy answers and per-prompt sample chances, categories drawn from them with
each row's own stream (the real model: tests/engines/test_exact_mode.py)."""

from __future__ import annotations

import math

import pytest
from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.categories import Category
from slick_curator.probing.exact_mode import category_probabilities
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.records import Example
from slick_curator.probing.runner import Prober


def rows(n):
    return [Example(row=i, question=f"q{i}?", answers=(f"a{i}",), group="g") for i in range(n)]


def prober(engine, pool, seed=0) -> Prober:
    params = ProbeParams(n_prompts=2, k_shot=2, n_samples=16, mode="exact", seed=seed)
    return Prober(engine, params, ExemplarPool(pool, n_prompts=2, k_shot=2, seed=0))


def test_odds_follow_greedy_answers_then_the_chance_that_some_sample_hits():
    assert category_probabilities([True, True], [0.3, 0.3], 16)["HighlyKnown"] == 1.0
    assert category_probabilities([True, False], [0.0, 0.0], 16)["MaybeKnown"] == 1.0
    odds = category_probabilities([False, False], [0.01, 0.02], 16)
    assert odds["WeaklyKnown"] == pytest.approx(1 - 0.99**16 * 0.98**16)
    assert odds["WeaklyKnown"] + odds["Unknown"] == pytest.approx(1.0)
    assert category_probabilities([False], [1e-12], 16)["WeaklyKnown"] == pytest.approx(16e-12)
    assert category_probabilities([False], [1.0], 16)["Unknown"] == 0.0


def test_rows_get_exact_p_sample_odds_and_a_draw_that_replays():
    pool = rows(400)
    known = {f"q{i}?": f"a{i}" for i in range(5)}  # greedy right: HighlyKnown
    sampled = {f"q{i}?": f"a{i}" for i in range(5, 400)}  # greedy wrong, samples 1 % right
    engine = FakeEngine(greedy=known, samples=sampled, sample_probability=0.01)
    results = prober(engine, pool).probe(pool)
    assert all(r.category is Category.HIGHLY_KNOWN for r in results[:5])
    expected = 1 - 0.99 ** 32
    weak = [r for r in results[5:] if r.category is Category.WEAKLY_KNOWN]
    for r in results[5:]:
        assert r.category_probs["WeaklyKnown"] == pytest.approx(expected)
        assert r.p_sample == pytest.approx(0.01) and r.p_samples == [0.01, 0.01]
        assert r.n_samples == 0 and not r.sampling_complete  # nothing was drawn
    # 395 draws at odds 0.275: the share is within four standard deviations
    sd = math.sqrt(expected * (1 - expected) / 395)
    assert abs(len(weak) / 395 - expected) < 4 * sd
    again = prober(FakeEngine(greedy=known, samples=sampled, sample_probability=0.01),
                   pool).probe(pool)
    assert [r.category for r in again] == [r.category for r in results]
    other_seed = prober(FakeEngine(greedy=known, samples=sampled, sample_probability=0.01),
                        pool, seed=1).probe(pool)
    assert [r.category for r in other_seed] != [r.category for r in results]


def test_exact_mode_needs_top_k():
    with pytest.raises(ValueError, match="top_k >= 1"):
        ProbeParams(mode="exact", top_k=0)
