"""`TreeModel`'s own layer arithmetic, on a tiny random Llama: the rotary embedding, attention
to a few own keys, and a pass over several batches."""

from __future__ import annotations

import torch
from slick_curator.engines.hf_decoding import DecodeStats
from slick_curator.engines.tree_attention import Segment, TreeModel
from slick_curator.engines.tree_ops import rotary
from slick_curator.engines.tree_torch import few_keys
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


def tiny() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=50)
    return LlamaForCausalLM(config).eval()


def test_rotary_is_transformers_bit_for_bit_for_q_and_k_heads_at_once():
    torch.manual_seed(1)
    for dtype in (torch.float32, torch.bfloat16):
        q, k = torch.randn(7, 9, 64).to(dtype), torch.randn(7, 3, 64).to(dtype)
        cos, sin = torch.randn(7, 64).to(dtype), torch.randn(7, 64).to(dtype)
        want_q, want_k = apply_rotary_pos_emb(q, k, cos, sin)
        both = rotary(torch.cat([q, k], 1), cos, sin)
        assert torch.equal(both[:, :9], want_q) and torch.equal(both[:, 9:], want_k)


def test_attention_to_a_few_keys_is_the_fused_kernels():
    """`few_keys` stands in for aten's CPU flash kernel: the same outputs and log-sum-exps,
    masked keys (-inf) given no weight, a query that sees one key only (padding) included."""
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    torch.manual_seed(2)
    rows, heads, queries, length, dim = 5, 3, 6, 11, 64
    seen = torch.rand(rows, 1, queries, length) < 0.6
    seen[..., 0] = True
    seen[0, 0, -1] = False
    seen[0, 0, -1, 0] = True  # a padding query: slot 0 only
    mask = torch.zeros(seen.shape).masked_fill_(~seen, float("-inf"))
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 1e-2)):
        q = torch.randn(rows, heads, queries, dim).to(dtype)
        k, v = (torch.randn(rows, heads, length, dim).to(dtype) for _ in range(2))
        want, want_lse = flash(q, k, v, attn_mask=mask.to(dtype), scale=0.125)[:2]
        got, lse = few_keys(q, k, v, attn_mask=mask, scale=0.125)
        assert got.dtype == dtype and lse.dtype == torch.float32
        assert torch.allclose(got.float(), want.float(), atol=tolerance, rtol=tolerance)
        assert torch.allclose(lse, want_lse, atol=1e-4)
        # a masked key's value does not reach the output
        poisoned = v.clone()
        poisoned[0, :, 1:] = 1e4
        padded, _ = few_keys(q, k, poisoned, attn_mask=mask, scale=0.125)
        assert torch.equal(padded[0, :, -1], got[0, :, -1])


@torch.inference_mode()
def test_one_pass_over_two_batches_computes_what_each_pass_alone_does():
    net = TreeModel(tiny(), pad_token_id=0, stats=DecodeStats())
    calls = []
    alone = net.forward

    def recorded(*args):
        calls.append(args)
        return alone(*args)

    net.forward = recorded
    first, first_logits = net.prefill([[5, 6, 7], [8, 9], [10, 11, 12, 13]], [0, 0, 0], None, 8)
    second, second_logits = net.prefill([[14, 15], [16]], [3, 4], None, 8)
    # the same inputs again, as two segments of one pass, on fresh caches
    segments = []
    for ids, positions, own, bias, grid, keep, real in calls:
        fresh = net.empty_own(len(own.fills), own.k[0].shape[2])
        segments.append(Segment(ids, positions, fresh, bias, grid, keep, real))
    logits = net.forward_many(segments)
    torch.testing.assert_close(logits[0], first_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[1], second_logits, rtol=1e-5, atol=1e-5)
    for segment, own in zip(segments, (first, second), strict=True):
        assert segment.own.fills == own.fills
        for got, want in zip(segment.own.k + segment.own.v, own.k + own.v, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
