"""Which models the tree decoder computes: Llama layouts without biases, on the CPU."""

from __future__ import annotations

import torch
from slick_curator.engines.tree_attention import supports
from transformers import LlamaConfig, LlamaForCausalLM


def tiny(**overrides) -> LlamaForCausalLM:
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=64,
                         **overrides)
    return LlamaForCausalLM(config)


def test_a_llama_on_the_cpu_is_supported():
    assert supports(tiny())


def test_a_model_elsewhere_than_the_cpu_is_not():
    # the transformers engine then decodes through transformers (PrefixDecoder), as on a GPU
    assert not supports(tiny().to(torch.device("meta")))


def test_projections_with_bias_are_not():
    assert not supports(tiny(attention_bias=True))
    assert not supports(tiny(mlp_bias=True))
