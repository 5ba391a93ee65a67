"""Per-sample random streams: exact Gumbel-max draws that no other row can shift."""

from __future__ import annotations

import math

import pytest
import torch

from slick_curator.engines.streams import (
    key_tensor,
    sample_tokens,
    sample_words,
    stream_key,
    uniforms,
)


def keys_for(n: int, key: int = 7) -> torch.Tensor:
    return key_tensor([sample_words(key, j) for j in range(n)])


def test_stream_keys_are_stable_and_distinct():
    assert stream_key("row", 0, "P36", "q?") == stream_key("row", 0, "P36", "q?")
    assert stream_key("row", 0, "P36", "q?") != stream_key("row", 1, "P36", "q?")
    assert stream_key(1, 2) != stream_key(12)  # parts are separated, not concatenated
    assert 0 <= stream_key("x") < 2**64


def test_uniforms_are_uniform_and_independent_of_batch_neighbours():
    keys = keys_for(4000)
    tokens = torch.arange(40).expand(4000, 40)
    u = uniforms(keys, 3, tokens)
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.002
    # Row 10's variates are the same alone as in the batch.
    assert torch.equal(uniforms(keys[10:11], 3, tokens[10:11]), u[10:11])
    # Another step or token gives other variates.
    assert not torch.equal(uniforms(keys, 4, tokens), u)


def test_draws_follow_softmax_of_top_k_over_temperature():
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    temperature, top_k, n = 0.5, 4, 40_000
    keys = keys_for(n, key=11)
    tokens = sample_tokens(logits.expand(n, -1), keys, 0, temperature, top_k)
    counts = torch.bincount(tokens, minlength=6).double()
    probs = torch.softmax(logits[0, :top_k] / temperature, dim=0).double()
    assert counts[top_k:].sum() == 0  # never outside the top-k
    expected = probs * n
    chi2 = (((counts[:top_k] - expected) ** 2) / expected).sum().item()
    assert chi2 < 16.3, (counts, expected)  # p = 0.001 at 3 degrees of freedom


def test_a_draw_does_not_depend_on_the_batch_or_the_row_order():
    torch.manual_seed(0)
    logits = torch.randn(6, 100)
    keys = keys_for(6)
    together = sample_tokens(logits, keys, 5, 0.7, 40)
    alone = torch.cat([sample_tokens(logits[i:i + 1], keys[i:i + 1], 5, 0.7, 40)
                       for i in range(6)])
    assert torch.equal(together, alone)
    order = torch.tensor([5, 3, 1, 0, 2, 4])
    assert torch.equal(sample_tokens(logits[order], keys[order], 5, 0.7, 40), together[order])


def test_without_top_k_every_token_can_be_drawn():
    logits = torch.zeros(2000, 5)
    tokens = sample_tokens(logits, keys_for(2000), 0, 1.0, 0)
    assert set(tokens.tolist()) == set(range(5))


@pytest.mark.parametrize("step", [0, 1, 23])
def test_uniform_resolution_keeps_gumbel_finite(step):
    u = uniforms(keys_for(50), step, torch.arange(49152).expand(50, -1))
    g = -torch.log(-torch.log(u))
    assert torch.isfinite(g).all() and math.isclose(u.mean().item(), 0.5, abs_tol=0.01)
