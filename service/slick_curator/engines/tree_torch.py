"""Tree attention's attention step through torch's kernels, where `tree_kernel` is not built:
aten's flash kernel for CPU on padded query blocks (which also returns each query's
log-sum-exp), `few_keys` for own slots of few keys, the two merged by their log-sum-exps."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from slick_curator.engines.tree_cache import NEG, Grid
from slick_curator.engines.tree_ops import Packing

__all__ = ["FEW_KEYS", "Masks", "attend", "few_keys", "masks", "zeroed"]

_flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


# Own slots per row up to which attention to them is computed by `few_keys`, not the kernel.
FEW_KEYS = 40


def few_keys(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor,
             scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of `q` ([b, h, n, d]) to a few keys each ([b, h, length, d]), in fp32, and
    each query's log-sum-exp: what the fused kernel returns. The kernel works block by block,
    each (row, head) a block of its own, and a tree pass has hundreds of rows of a few keys:
    batched products take 0.5-0.8 of its time up to 40 keys, 1.4x past ~50 (AMD EPYC, 2
    cores, 2026-12-07). The scores are the kernel's: fp32 products of the same inputs."""
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2))
    scores.mul_(scale).add_(attn_mask)
    top = scores.amax(-1, keepdim=True)
    weights = scores.sub_(top).exp_()
    total = weights.sum(-1, keepdim=True)
    out = torch.matmul(weights, v.float()).div_(total)
    return out.to(q.dtype), total.log_().add_(top).squeeze(-1)


def zeroed(blocks: dict[str, torch.Tensor], name: str, like: torch.Tensor, shape
           ) -> torch.Tensor:
    """A query block of one pass, zeroed once: every layer scatters its queries to the same
    places, so the padding stays zero."""
    block = blocks.get(name)
    if block is None:
        block = blocks[name] = like.new_zeros(shape)
    return block


class Masks(NamedTuple):
    """A segment's masks for one pass, and the kernel its own slots take."""

    own_attention: Callable  # `few_keys` where the rows hold few own slots, else aten's
    own: torch.Tensor  # [rows, 1, heads per key head * T, length]: the query block's
    prefix: torch.Tensor | None  # the grid's (`Grid.mask`)


def masks(own_bias: torch.Tensor, grid: Grid | None, length: int, dtype: torch.dtype,
          groups: int) -> Masks:
    rows, width, _ = own_bias.shape
    # few own slots: `few_keys`, with an fp32 mask; else aten's, in the model's dtype
    own_attention = few_keys if length <= FEW_KEYS else _flash
    mask_dtype = torch.float32 if own_attention is few_keys else dtype
    own = own_bias.to(mask_dtype)[:, None, None].expand(
        rows, 1, groups, width, length).reshape(rows, 1, groups * width, length)
    return Masks(own_attention, own, grid.mask(dtype) if grid is not None else None)


def attend(q: torch.Tensor, packing: Packing, length: int, masks: Masks, own_k: torch.Tensor,
           own_v: torch.Tensor, grid_kv: tuple[torch.Tensor, torch.Tensor] | None,
           kv_heads: int, scale: float, blocks: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each real token's attention ([n, heads, dim], `q` likewise) over its prefix and its
    own slots. The query heads of one key head are one longer query block. Own slots are
    attended in the rows' padded layout (a row's keys are its own); the prefix grid by the
    real tokens of each prefix, packed."""
    rows, width = packing.rows, packing.width
    n, heads, dim = q.shape
    groups = heads // kv_heads
    # Blocks are laid out as the kernel reads them ([batch, kv head, group, query]) and
    # filled or read by index in one copy each: no permuted copies.
    q4 = q.view(n, kv_heads, groups, dim)
    if packing.all_real:
        qg = q4.view(rows, width, kv_heads, groups, dim).permute(0, 2, 3, 1, 4)
    else:
        qg = zeroed(blocks, "own", q, (rows, kv_heads, groups, width, dim))
        qg[packing.row_idx, :, :, packing.col_idx] = q4
    out, lse = masks.own_attention(qg.reshape(rows, kv_heads, groups * width, dim),
                                   own_k[:, :, :length], own_v[:, :, :length],
                                   attn_mask=masks.own, scale=scale)[:2]
    # back to the real tokens: [rows, kv heads, groups, T, ...] -> [n, heads, ...]
    out = out.view(rows, kv_heads, groups, width, dim)[
        packing.row_idx, :, :, packing.col_idx].reshape(n, heads, dim)
    if grid_kv is None:
        return out
    lse = lse.view(rows, kv_heads, groups, width)[
        packing.row_idx, :, :, packing.col_idx].reshape(n, heads)
    grid_k, grid_v = grid_kv
    n_prefixes = grid_k.shape[0]
    qgrid = zeroed(blocks, "grid", q, (n_prefixes, kv_heads, packing.most, groups, dim))
    qgrid[packing.prefix, :, packing.rank] = q4
    o_pre, lse_pre = _flash(qgrid.view(n_prefixes, kv_heads, packing.most * groups, dim),
                            grid_k, grid_v, attn_mask=masks.prefix, scale=scale)[:2]
    o_pre = o_pre.view(n_prefixes, kv_heads, packing.most, groups, dim)[
        packing.prefix, :, packing.rank].reshape(n, heads, dim)
    lse_pre = lse_pre.view(n_prefixes, kv_heads, packing.most, groups)[
        packing.prefix, :, packing.rank].reshape(n, heads)
    if packing.unprefixed is not None:  # the kernel gives a query that sees nothing lse 0
        lse_pre[packing.unprefixed] = NEG
    # softmax over both key sets: the prefix part's share is sigmoid(lse_pre - lse)
    share = torch.sigmoid_(lse_pre.sub_(lse)).unsqueeze(-1)
    return torch.lerp(out.float(), o_pre.float(), share).to(q.dtype)
