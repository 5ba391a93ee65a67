"""Pieces of `tree_attention`'s pass: where its real tokens sit (`Packing`), and the rotary
embedding of q and k heads at once."""

from __future__ import annotations

import torch

from slick_curator.engines.tree_cache import Grid

__all__ = ["Packing", "rotary"]


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Llama's rotary embedding of `x` ([n, heads, dim]) at cos, sin ([n, dim]): the
    operations of transformers' `apply_rotary_pos_emb`, in its order (the same bits), for q
    and k heads at once."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos[:, None]) + (rotated * sin[:, None])


class Packing:
    """Where a pass's real tokens sit: in the rows' padded layout ([rows, T]), each one's
    prefix and, with `ranks` (torch's kernels: attention to prefixes in blocks), packed by
    prefix ([prefix, rank among the prefix's tokens])."""

    def __init__(self, flat: torch.Tensor, rows: int, width: int, grid: Grid | None,
                 ranks: bool = True) -> None:
        self.rows, self.width = rows, width
        self.flat = flat  # the real tokens' flat indices (row * T + t), in order
        self.row_idx, self.col_idx = flat // width, flat % width
        self.all_real = len(flat) == rows * width
        if grid is None:
            return
        prefix = self.prefix = grid.c_idx[self.row_idx]
        if not ranks:
            return
        counts = torch.bincount(prefix, minlength=len(grid.lengths))
        order = torch.sort(prefix, stable=True).indices
        starts = counts.cumsum(0) - counts
        rank = torch.empty_like(prefix)
        rank[order] = torch.arange(len(prefix)) - starts[prefix[order]]
        self.rank = rank
        self.most = int(counts.max()) if len(prefix) else 0
        unprefixed = grid.lengths[prefix] == 0
        self.unprefixed = unprefixed if bool(unprefixed.any()) else None
