"""Per-sample random streams: every sample draws from its own counter-based stream.

A sample's randomness is a pure function of (stream key, sample index, step, token id), so a
sample comes out the same whatever else is in the batch: another shard size, a resumed job,
rows pruned or decided early (`adaptive` vs `full`), pruning on or off. A batch-wide generator
(`torch.multinomial` over the live batch) shifts every later draw when one sequence leaves.

Sampling is Gumbel-max: the token chosen is argmax over the top-k of logit / T + G, with G a
standard Gumbel variate per (sample, step, token). That is an exact draw from softmax(top-k
logits / T), and keying G by token id (not by rank) keeps a draw stable when two candidates'
ranks swap under floating-point noise.

The uniform variates come from a keyed 32-bit integer hash evaluated in torch int64 arithmetic.
Every product is (x < 2**32) * (c < 2**31) < 2**63, so nothing overflows.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from slick_curator.engines.stream_keys import sample_words, stream_key

__all__ = ["gumbel", "key_tensor", "sample_tokens", "sample_words", "stream_key", "uniforms"]

_MASK32 = 0xFFFFFFFF
_MUL = 0x045D9F3B  # odd, < 2**31: the multiplier of a well-mixing 32-bit finaliser
_SALT = 0x9E3779B9


def key_tensor(words: Iterable[tuple[int, int]], device: torch.device | str = "cpu") -> torch.Tensor:
    """[n, 2] int64 tensor of sample key words (one row per sequence)."""
    return torch.tensor(list(words), dtype=torch.int64, device=device).reshape(-1, 2)


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = (x * _MUL) & _MASK32
    x = x ^ (x >> 16)
    x = (x * _MUL) & _MASK32
    return x ^ (x >> 16)


def uniforms(keys: torch.Tensor, step: int, tokens: torch.Tensor) -> torch.Tensor:
    """U(0, 1) variates, float64, shaped like `tokens` ([rows, k]); `keys` is [rows, 2]."""
    x = _mix((tokens.to(torch.int64) ^ _SALT) & _MASK32)
    x = _mix(x ^ (step & _MASK32))
    x = _mix(x ^ keys[:, 1:2])
    x = _mix(x ^ keys[:, 0:1])
    return (x.to(torch.float64) + 0.5) / 2.0**32


def gumbel(keys: torch.Tensor, step: int, tokens: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel variates for (sample, step, token), float64."""
    return -torch.log(-torch.log(uniforms(keys, step, tokens)))


def sample_tokens(
    logits: torch.Tensor, keys: torch.Tensor, step: int, temperature: float, top_k: int
) -> torch.Tensor:
    """One token per row of `logits` ([rows, vocab]) drawn from softmax(top-k(logits) / T).

    Row r draws from its own stream `keys[r]`; the draw does not depend on other rows.
    """
    if top_k and top_k < logits.shape[-1]:
        # top-k before widening to float64: dividing by T > 0 keeps the order
        values, tokens = torch.topk(logits, top_k, dim=-1)
    else:
        values = logits
        tokens = torch.arange(logits.shape[-1], device=logits.device).expand_as(logits)
    scores = values.to(torch.float64) / temperature
    pick = (scores + gumbel(keys, step, tokens)).argmax(dim=-1, keepdim=True)
    return tokens.gather(1, pick).squeeze(1)
