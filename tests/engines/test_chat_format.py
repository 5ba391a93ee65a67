"""The chat prompt format on the real model: the tokenizer's template, answers still short."""

from __future__ import annotations

import pytest

from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun

pytestmark = pytest.mark.model


def test_chat_probe_uses_the_model_template(hf_engine, p36_20, p36_dev):
    params = ProbeParams(n_prompts=2, k_shot=2, n_samples=2, max_new_tokens=12,
                         prompt_format="chat", keep_prompts=True)
    run = ProbeRun(p36_20, params, exemplars=p36_dev, shard_size=4)
    table = run.probe_shard(hf_engine, run.shard(0))  # the shard's results: 4 rows
    prompts = table.column("slick_prompts").to_pylist()
    assert len(prompts) == 4
    first = prompts[0][0]
    assert first.count("<|im_start|>user") == 3 and first.endswith("<|im_start|>assistant\n")
    answers = [a for row in table.column("slick_greedy_answers").to_pylist() for a in row]
    assert all(answers) and all("\n" not in a and "<|im_end|>" not in a for a in answers)
