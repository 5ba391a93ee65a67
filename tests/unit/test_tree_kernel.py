"""`tree_kernel`: tree attention's attention step and a layer's elementwise steps in C, built
for this machine on first use. Checked against a plain softmax per token and head, against
transformers' norm, rotary embedding and SiLU, against torch's path inside `TreeModel`, for
bit-identical results whatever the thread count, and for its refusals."""

from __future__ import annotations

import pytest
import torch
from slick_curator.engines import tree_attention, tree_kernel
from slick_curator.engines.hf_decoding import DecodeStats
from slick_curator.engines.tree_attention import TreeModel
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRMSNorm, apply_rotary_pos_emb

KERNEL = tree_kernel.load()
needs_kernel = pytest.mark.skipif(KERNEL is None, reason="no C compiler or no AVX-512 here")
NEG = float("-inf")


def _case(dtype, seed=0, rows=7, kv_heads=3, heads=9, dim=64, width=3, length=20, n=15):
    g = torch.Generator().manual_seed(seed)
    own_k = torch.randn(rows, kv_heads, length + 6, dim, generator=g).to(dtype)
    own_v = torch.randn(rows, kv_heads, length + 6, dim, generator=g).to(dtype)
    bias = torch.zeros(rows, width, length)
    bias[torch.rand(bias.shape, generator=g) < 0.4] = NEG
    bias[..., 0] = 0.0  # every query sees some own slot
    token_rows = torch.randint(0, rows, (n,), generator=g)
    cols = torch.randint(0, width, (n,), generator=g)
    # q as the pass has it: a view of the q and k heads of one projection
    q = torch.randn(n, heads + kv_heads, dim, generator=g).to(dtype)[:, :heads]
    grid_k = torch.randn(4, kv_heads, 50, dim, generator=g).to(dtype)
    grid_v = torch.randn(4, kv_heads, 50, dim, generator=g).to(dtype)
    lengths = torch.tensor([50, 17, 0, 33])  # a prefix of no tokens too
    prefixes = torch.randint(0, 4, (n,), generator=g)
    return q, own_k, own_v, bias, length, token_rows, cols, grid_k, grid_v, lengths, prefixes


def _reference(q, own_k, own_v, bias, length, rows, cols, grid_k, grid_v, lengths, prefixes):
    n, heads, dim = q.shape
    group = heads // own_k.shape[1]
    out = torch.empty(n, heads, dim)
    for i in range(n):
        r, c = rows[i], cols[i]
        for h in range(heads):
            g = h // group
            keys, values, extra = own_k[r, g, :length], own_v[r, g, :length], bias[r, c, :length]
            if grid_k is not None:
                size = lengths[prefixes[i]]
                keys = torch.cat([grid_k[prefixes[i], g, :size], keys])
                values = torch.cat([grid_v[prefixes[i], g, :size], values])
                extra = torch.cat([torch.zeros(size), extra])
            scores = keys.float() @ q[i, h].float() * dim**-0.5 + extra
            out[i, h] = torch.softmax(scores, 0) @ values.float()
    return out


@needs_kernel
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("with_grid", [True, False])
def test_attention_is_one_softmax_over_prefix_and_allowed_own_slots(dtype, tolerance, with_grid):
    case = list(_case(dtype))
    if not with_grid:
        case[7:] = [None] * 4
    got = KERNEL.attend(*case, scale=64**-0.5)
    assert got.dtype == dtype and got.shape == case[0].shape
    assert torch.allclose(got.float(), _reference(*case), atol=tolerance, rtol=tolerance)


@needs_kernel
def test_hidden_slots_and_keys_past_a_prefix_are_never_read():
    """The caches are allocated uninitialised for the kernel: NaN in a slot no query of its
    row sees, past `length`, or past a prefix's length changes nothing."""
    q, own_k, own_v, bias, length, rows, cols, grid_k, grid_v, lengths, prefixes = _case(
        torch.bfloat16)
    clean = KERNEL.attend(q, own_k, own_v, bias, length, rows, cols, grid_k, grid_v, lengths,
                          prefixes, scale=0.125)
    hidden = (bias == NEG).all(1)  # [rows, length]: slots no query of the row sees
    assert hidden.any()
    slot_rows, slots = hidden.nonzero(as_tuple=True)
    for cache in (own_k, own_v):
        cache[slot_rows, :, slots] = float("nan")
        cache[:, :, length:] = float("nan")
    for cache in (grid_k, grid_v):
        for c, size in enumerate(lengths.tolist()):
            cache[c, :, size:] = float("nan")
    got = KERNEL.attend(q, own_k, own_v, bias, length, rows, cols, grid_k, grid_v, lengths,
                        prefixes, scale=0.125)
    assert torch.equal(got, clean)


@needs_kernel
def test_results_are_bit_identical_whatever_the_thread_count():
    case = _case(torch.bfloat16, seed=3, n=40)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = KERNEL.attend(*case, scale=0.125)
        torch.set_num_threads(max(2, threads))
        several = KERNEL.attend(*case, scale=0.125)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, several)


@needs_kernel
def test_store_puts_each_tokens_keys_and_values_in_its_rows_slot():
    g = torch.Generator().manual_seed(4)
    for dtype in (torch.float32, torch.bfloat16):
        qkv = torch.randn(6, 9 + 3 + 3, 64, generator=g).to(dtype)
        k, v = qkv[:, 9:12], qkv[:, 12:]
        own_k, own_v = torch.zeros(4, 3, 10, 64, dtype=dtype), torch.zeros(4, 3, 10, 64,
                                                                             dtype=dtype)
        rows, slots = torch.tensor([0, 0, 1, 3, 3, 2]), torch.tensor([0, 1, 5, 9, 2, 0])
        want_k, want_v = own_k.clone(), own_v.clone()
        want_k[rows, :, slots] = k
        want_v[rows, :, slots] = v
        KERNEL.store(k, v, own_k, own_v, rows, slots)
        assert torch.equal(own_k, want_k) and torch.equal(own_v, want_v)
        with pytest.raises(IndexError):
            KERNEL.store(k, v, own_k, own_v, rows, torch.tensor([0, 1, 5, 10, 2, 0]))


@needs_kernel
def test_out_of_range_indices_and_odd_layouts_are_refused():
    case = list(_case(torch.float32))
    bad_rows = case.copy()
    bad_rows[5] = case[5].clone()
    bad_rows[5][0] = 7  # the cache has 7 rows
    with pytest.raises(IndexError):
        KERNEL.attend(*bad_rows, scale=0.125)
    bad_prefix = case.copy()
    bad_prefix[10] = case[10].clone()
    bad_prefix[10][0] = 4
    with pytest.raises(IndexError):
        KERNEL.attend(*bad_prefix, scale=0.125)
    too_long = case.copy()
    too_long[4] = case[3].shape[2] + 1  # more own slots than the bias rows hold
    with pytest.raises(IndexError):
        KERNEL.attend(*too_long, scale=0.125)
    mixed = case.copy()
    mixed[1] = case[1].to(torch.bfloat16)
    with pytest.raises(ValueError):
        KERNEL.attend(*mixed, scale=0.125)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("SLICK_TREE_KERNEL", "0")
    tree_kernel.load.cache_clear()
    try:
        assert tree_kernel.load() is None
    finally:
        monkeypatch.delenv("SLICK_TREE_KERNEL")
        tree_kernel.load.cache_clear()


@needs_kernel
def test_built_once_per_source_compiler_and_cpu_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SLICK_KERNEL_CACHE", str(tmp_path))
    tree_kernel.load.cache_clear()
    try:
        assert tree_kernel.load() is not None
        built = list(tmp_path.glob("tree_kernel-*.so"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        tree_kernel.load.cache_clear()
        assert tree_kernel.load() is not None
        assert [p.stat().st_mtime_ns for p in tmp_path.glob("tree_kernel-*.so")] == [stamp]
    finally:
        tree_kernel.load.cache_clear()


def test_no_compiler_means_torchs_kernels(monkeypatch, tmp_path):
    monkeypatch.setenv("SLICK_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    tree_kernel.load.cache_clear()
    try:
        assert tree_kernel.load() is None
    finally:
        tree_kernel.load.cache_clear()


@needs_kernel
@torch.inference_mode()
def test_tree_model_computes_with_the_kernel_what_it_computes_with_torch():
    """A Llama with 64-dim heads (the kernel's): prompts of two prefixes, then a decode step
    whose queries see some own slots; logits with the C steps and with torch's path agree, and
    so they do where a batch's suffixes are too long for one prefill pass."""
    torch.manual_seed(5)
    config = LlamaConfig(hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=60)
    model = LlamaForCausalLM(config).eval()
    results = []
    for use_kernel, split in ((True, False), (True, True), (False, False)):
        net = TreeModel(model, pad_token_id=0, stats=DecodeStats())
        assert net.kernel is not None and net.layer_steps is not None
        if not use_kernel:  # torch's path throughout, before any cache is made
            net.kernel = net.layer_steps = None
        keys = [(5, 6, 7, 8, 9), (5, 6, 7, 8, 9), (10, 11, 12)]
        grid = net.grid(keys, net.prefix_kv(keys))
        one_pass = tree_attention.ONE_PASS
        try:
            tree_attention.ONE_PASS = 0 if split else one_pass
            own, logits = net.prefill_sorted([[20, 21], [22, 23, 24, 25], [26]], [5, 5, 3],
                                             grid, 12)
        finally:
            tree_attention.ONE_PASS = one_pass
        own.jobs = [0, 1, 2]
        queries = [[[0, 1, own.fills[0]]], [[0, 2, own.fills[1]]], [[0, own.fills[2]]]]
        bias = net.step_bias(own, 1, queries)
        ids = torch.tensor([[30], [31], [32]])
        positions = torch.tensor([[7], [9], [4]])
        step = net.forward(ids, positions, own, bias, grid, torch.arange(3))
        results.append((logits, step))
    for got in results[:2]:
        for part, want in zip(got, results[2], strict=True):
            assert torch.allclose(part, want, atol=1e-4, rtol=1e-4)


@needs_kernel
def test_rotary_in_place_is_transformers_bit_for_bit():
    torch.manual_seed(6)
    for dtype in (torch.float32, torch.bfloat16):
        qkv = torch.randn(7, 9 + 3 + 3, 64).to(dtype)
        q, k = qkv[:, :9].clone(), qkv[:, 9:12].clone()
        cos, sin = torch.randn(7, 64).to(dtype), torch.randn(7, 64).to(dtype)
        want_q, want_k = apply_rotary_pos_emb(q, k, cos, sin)
        got = KERNEL.rotary_(qkv[:, :12], cos, sin)  # q and k heads of one projection's output
        assert torch.equal(got[:, :9], want_q) and torch.equal(got[:, 9:], want_k)
        assert torch.equal(qkv[:, :9], want_q)  # in place


@needs_kernel
def test_residual_add_and_norm_are_transformers_llama_rms_norm():
    torch.manual_seed(7)
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 1e-2)):
        norm = LlamaRMSNorm(576, eps=1e-5)
        norm.weight.data = torch.randn(576).to(dtype)
        hidden, delta = torch.randn(40, 576).to(dtype), torch.randn(40, 576).to(dtype)
        summed = hidden + delta
        want = norm(summed)
        got = KERNEL.add_norm(hidden, delta, norm.weight, 1e-5)
        assert torch.equal(hidden, summed)  # the residual added in place, rounded as torch
        assert got.dtype == dtype
        assert torch.allclose(got.float(), want.float(), atol=tolerance, rtol=tolerance)
        # the sum of squares is summed in another order: the last bit may differ, rarely
        assert (got == want).float().mean() > 0.6
        assert torch.allclose(KERNEL.add_norm(summed.clone(), None, norm.weight, 1e-5).float(),
                              got.float())


@needs_kernel
def test_silu_of_gate_times_up():
    torch.manual_seed(8)
    for dtype, tolerance in ((torch.float32, 1e-6), (torch.bfloat16, 1e-2)):
        gate_up = (torch.randn(30, 2 * 100) * 6).to(dtype)
        gate, up = gate_up[:, :100], gate_up[:, 100:]
        want = torch.nn.functional.silu(gate) * up
        got = KERNEL.silu_mul(gate, up)
        assert torch.allclose(got.float(), want.float(), atol=tolerance, rtol=tolerance)
        if dtype == torch.bfloat16:  # rounded where torch rounds: nearly always the same bits
            assert (got == want).float().mean() > 0.98
