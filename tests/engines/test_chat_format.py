"""The chat prompt format on the real model: the tokenizer's template, answers still short."""

from __future__ import annotations

import pytest

from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun

pytestmark = pytest.mark.model


def test_chat_probe_uses_the_model_template(hf_engine, p36_20, p36_dev):
    params = ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2, max_new_tokens=12,
                         prompt_format="chat", keep_prompts=True)
    run = ProbeRun(p36_20, params, exemplars=p36_dev, shard_size=4)
    table = run.probe_shard(hf_engine, run.shard(0))  # the shard's results: 4 rows
    prompts = table.column("slick_prompts").to_pylist()
    assert len(prompts) == 4
    first = prompts[0][0]
    assert first.count("<|im_start|>user") == 3 and first.endswith("<|im_start|>assistant\n")
    answers = [a for row in table.column("slick_greedy_answers").to_pylist() for a in row]
    assert all(answers) and all("\n" not in a and "<|im_end|>" not in a for a in answers)


@pytest.fixture(scope="module")
def bos_model(model_path, tmp_path_factory):
    """The SmolLM2 weights with a tokenizer configured to add BOS (<|im_start|>), as Llama-3
    and Gemma tokenizers do; the chat template writes that token itself."""
    from pathlib import Path

    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("bos-model")
    for item in Path(model_path).iterdir():
        if not item.name.startswith("tokenizer"):
            (folder / item.name).symlink_to(item)
    tokenizer = AutoTokenizer.from_pretrained(model_path, add_bos_token=True)
    assert tokenizer("hi").input_ids[0] == tokenizer.bos_token_id  # it does add one
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_chat_prompts_get_one_bos_with_a_bos_adding_tokenizer(bos_model, hf_engine, p36_20,
                                                              p36_dev):
    from slick_curator.engines import create_engine

    params = ProbeParams(n_prompts=2, k_shot=2, n_samples=2, max_new_tokens=8,
                         prompt_format="chat", mode="full")
    seen: dict[str, list[list[int]]] = {}
    results = {}
    with create_engine("transformers", model=bos_model) as bos_engine:
        bos = bos_engine.tokenizer.bos_token_id
        for name, engine in (("bos", bos_engine), ("plain", hf_engine)):
            decode = engine.decoder.decode
            calls = seen.setdefault(name, [])

            def recording(token_lists, _decode=decode, _calls=calls, **kw):
                _calls.extend(token_lists)
                return _decode(token_lists, **kw)

            engine.decoder.decode = recording
            try:
                run = ProbeRun(p36_20, params, exemplars=p36_dev, shard_size=4)
                results[name] = run.probe_shard(engine, run.shard(0))
            finally:
                engine.decoder.decode = decode
    assert seen["bos"] and all(t[0] == bos and t[1] != bos for t in seen["bos"])
    # With its single BOS the prompt is token for token what the template wrote, so the
    # model answers exactly as it does under its own tokenizer.
    assert seen["bos"] == seen["plain"]
    for column in ("slick_greedy_answers", "slick_category", "slick_n_sample_correct"):
        assert (results["bos"].column(column).to_pylist()
                == results["plain"].column(column).to_pylist()), column
