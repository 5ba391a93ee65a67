"""The pieces of `tree_attention`'s pass: where its real tokens sit (`Packing`), the rotary
embedding of q and k heads at once, attention to a few keys per row without the fused kernel,
and query blocks zeroed once per pass."""

from __future__ import annotations

import torch

from slick_curator.engines.tree_cache import Grid

__all__ = ["FEW_KEYS", "Packing", "few_keys", "rotary", "zeroed"]


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Llama's rotary embedding of `x` ([n, heads, dim]) at cos, sin ([n, dim]): the
    operations of transformers' `apply_rotary_pos_emb`, in its order (the same bits), for q
    and k heads at once."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos[:, None]) + (rotated * sin[:, None])


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


class Packing:
    """Where a pass's real tokens sit: in the rows' padded layout ([rows, T]) and, for
    attention to prefixes, packed by prefix ([prefix, rank among the prefix's tokens])."""

    def __init__(self, flat: torch.Tensor, rows: int, width: int, grid: Grid | None) -> None:
        self.rows, self.width = rows, width
        self.flat = flat  # the real tokens' flat indices (row * T + t), in order
        self.row_idx, self.col_idx = flat // width, flat % width
        self.all_real = len(flat) == rows * width
        if grid is None:
            return
        prefix = grid.c_idx[self.row_idx]
        counts = torch.bincount(prefix, minlength=len(grid.lengths))
        order = torch.sort(prefix, stable=True).indices
        starts = counts.cumsum(0) - counts
        rank = torch.empty_like(prefix)
        rank[order] = torch.arange(len(prefix)) - starts[prefix[order]]
        self.prefix, self.rank = prefix, rank
        self.most = int(counts.max()) if len(prefix) else 0
        unprefixed = grid.lengths[prefix] == 0
        self.unprefixed = unprefixed if bool(unprefixed.any()) else None
