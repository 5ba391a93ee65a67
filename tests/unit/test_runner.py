"""The runner's protocol logic, driven by the scripted fake engine (real engines: tests/engines)."""

from __future__ import annotations

import pytest

from slick_curator.engines.base import GenerationRequest, GenerationResult
from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.categories import Category
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.records import Example
from slick_curator.probing.runner import Prober

ROWS = [Example(row=i, question=f"q{i}?", answers=(f"a{i}",), group="g") for i in range(8)]


def prober(engine, **params) -> Prober:
    p = ProbeParams(**{"mode": "adaptive", "n_prompts": 3, "k_shot": 2, "n_samples": 4, **params})
    return Prober(engine, p, ExemplarPool(ROWS, n_prompts=3, k_shot=2, seed=0))


class CyclingEngine(FakeEngine):
    """Greedy correct for the first `right` prompts of a row (per call), wrong after."""

    def __init__(self, right: dict[str, int], sample_right: dict[str, int]):
        super().__init__()
        self.right, self.sample_right, self.seen = right, sample_right, {}

    def generate(self, requests):
        out = []
        for r in requests:
            q = self.question_of(r.prompt)
            answer = "a" + q[1:-1]
            if r.params.greedy:
                k = self.seen.get(q, 0)
                self.seen[q] = k + 1
                out.append(GenerationResult([" " + (answer if k < self.right.get(q, 0) else "x")]))
            else:
                good = self.sample_right.get(q, 0)
                out.append(GenerationResult([" " + (answer if i < good else "zz")
                                             for i in range(r.params.n)]))
        self.calls.append(len(requests))
        return out


def test_categories_follow_the_definitions_in_full_mode():
    engine = CyclingEngine(right={"q0?": 3, "q1?": 1}, sample_right={"q2?": 1})
    results = prober(engine, mode="full").probe(ROWS[:4])
    by_row = {r.row: r for r in results}
    assert by_row[0].category is Category.HIGHLY_KNOWN and by_row[0].p_greedy == 1
    assert by_row[1].category is Category.MAYBE_KNOWN and by_row[1].p_greedy == pytest.approx(1 / 3)
    assert by_row[2].category is Category.WEAKLY_KNOWN and by_row[2].p_sample == pytest.approx(3 / 12)
    assert by_row[3].category is Category.UNKNOWN and by_row[3].p_sample == 0
    assert all(r.n_samples == 12 and r.n_greedy == 3 for r in results)
    assert by_row[0].greedy_answers == ["a0", "a0", "a0"]


def test_adaptive_skips_sampling_when_greedy_decides_and_stops_at_first_correct_sample():
    engine = CyclingEngine(right={"q0?": 3, "q1?": 1}, sample_right={"q2?": 1})
    results = {r.row: r for r in prober(engine, mode="adaptive").probe(ROWS[:4])}
    assert results[0].n_samples == 0 and results[0].p_sample is None
    assert results[1].n_samples == 0
    assert results[2].category is Category.WEAKLY_KNOWN
    assert results[2].n_samples == 4 and results[2].p_sample is None  # stopped after prompt 1
    assert results[3].category is Category.UNKNOWN
    assert results[3].n_samples == 12 and results[3].p_sample == 0  # Unknown needs them all
    # one greedy call, then sampling rounds with only the undecided rows
    assert engine.calls == [12, 2, 1, 1]


def test_adaptive_and_full_agree_on_categories_with_a_deterministic_engine():
    script = dict(right={"q0?": 3, "q1?": 2, "q4?": 1}, sample_right={"q2?": 2, "q5?": 1})
    full = prober(CyclingEngine(**script), mode="full").probe(ROWS)
    adaptive = prober(CyclingEngine(**script), mode="adaptive").probe(ROWS)
    assert [r.category for r in full] == [r.category for r in adaptive]
    assert [r.greedy_answers for r in full] == [r.greedy_answers for r in adaptive]


def test_pruned_samples_never_count_as_correct():
    class PruningEngine(FakeEngine):
        def generate(self, requests):
            return [GenerationResult([" a0"] * r.params.n if not r.params.greedy else [" x"],
                                     pruned=[True] * r.params.n if not r.params.greedy else [False])
                    for r in requests]

    (result,) = prober(PruningEngine(), mode="full").probe(ROWS[:1])
    assert result.category is Category.UNKNOWN and result.n_sample_correct == 0


def test_hopeless_hint_is_sent_only_for_samples_and_only_when_pruning():
    seen: list[GenerationRequest] = []

    class Recorder(FakeEngine):
        def generate(self, requests):
            seen.extend(requests)
            return super().generate(requests)

    prober(Recorder(), mode="full").probe(ROWS[:1])
    assert all((r.hopeless is None) == r.params.greedy for r in seen)
    seen.clear()
    prober(Recorder(), mode="full", prune_samples=False).probe(ROWS[:1])
    assert all(r.hopeless is None for r in seen)


def test_keep_prompts_and_exemplar_ids_per_prompt():
    (result,) = prober(FakeEngine(), keep_prompts=True).probe(ROWS[:1])
    assert len(result.prompts) == 3 and all(p.endswith("Q: q0?\nA:") for p in result.prompts)
    assert len(result.exemplar_ids) == 3 and all(len(ids) == 2 for ids in result.exemplar_ids)
    assert all("row:0" not in ids for ids in result.exemplar_ids)


def test_chat_format_goes_through_the_engine_template():
    engine = FakeEngine(greedy={"q0?": "a0"})
    (result,) = prober(engine, prompt_format="chat", keep_prompts=True).probe(ROWS[:1])
    assert result.prompts[0].endswith("<user>q0?\n<assistant>")
    assert result.category is Category.HIGHLY_KNOWN


@pytest.mark.parametrize("mode", ["adaptive", "full"])
def test_on_rows_reports_every_row_once_and_known_rows_early(mode):
    engine = CyclingEngine(right={"q0?": 3, "q1?": 1}, sample_right={"q2?": 1})
    reports: list[int] = []
    prober(engine, mode=mode).probe(ROWS[:4], on_rows=reports.append)
    assert sum(reports) == 4
    if mode == "adaptive":
        assert reports[0] == 2  # q0, q1 decided by their greedy answers
        assert reports[1] == 1  # q2 decided by its first sampling round
    else:
        assert reports == [4]


@pytest.mark.parametrize("probability, expected", [(0.2, "WeaklyKnown"), (0.01, "Unknown")])
def test_fast_mode_maps_scores_to_categories(probability, expected):
    # 3 prompts x 4 samples = 12 draws in the full protocol: P(any hit) = 1 - (1 - p)^12,
    # 0.93 for p = 0.2 (WeaklyKnown is the likely outcome), 0.11 for p = 0.01 (Unknown).
    engine = FakeEngine(greedy={"q0?": "a0"}, samples={"q1?": "a1"}, sample_probability=probability)
    results = {r.row: r for r in prober(engine, mode="fast").probe(ROWS[:3])}
    assert results[0].category is Category.HIGHLY_KNOWN and results[0].greedy_answers == ["a0"] * 3
    assert results[1].category.value == expected
    assert results[1].p_sample == pytest.approx(probability)
    assert results[1].n_samples == 0 and results[1].greedy_answers == [None] * 3
    assert results[2].category is Category.UNKNOWN and results[2].p_sample == 0
