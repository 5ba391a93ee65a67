"""The caches of tree attention (`tree_attention`): few-shot prefixes computed once and kept
(`PrefixStore`), the prefixes of one batch (`Grid`), and each prompt's own keys and values
(`Own`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch

__all__ = ["MAX_PREFIX_BYTES", "NEG", "Grid", "Own", "PrefixStore"]

NEG = float("-inf")
# Memory for few-shot prefixes kept between calls. A QA prefix of SmolLM2-135M (150 tokens) is
# 3.5 MB in bf16; a chat row's fact probes share a head of several hundred tokens that no
# other row will use again, so the store is bounded by bytes, not by entries.
MAX_PREFIX_BYTES = 512 * 2**20


class PrefixStore:
    """Keys and values of few-shot prefixes, computed once, least recently used dropped."""

    def __init__(self, capacity: int = MAX_PREFIX_BYTES) -> None:
        self.capacity = capacity  # bytes
        self.held = 0
        self.entries: OrderedDict[tuple[int, ...], tuple[list[torch.Tensor], list[torch.Tensor]]]
        self.entries = OrderedDict()

    def get(self, key: tuple[int, ...]):
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key, kv) -> None:
        """Keep `kv`; the least recently used entries go while the store is over capacity
        (a batch's prefixes are put before its grid is built, so the newest always stays)."""
        old = self.entries.pop(key, None)
        if old is not None:
            self.held -= _nbytes(old)
        self.entries[key] = kv
        self.held += _nbytes(kv)
        while self.held > self.capacity and len(self.entries) > 1:
            _, dropped = self.entries.popitem(last=False)
            self.held -= _nbytes(dropped)


def _nbytes(kv: tuple[list[torch.Tensor], list[torch.Tensor]]) -> int:
    return sum(t.nbytes for tensors in kv for t in tensors)


@dataclass
class Grid:
    """The distinct prefixes of one batch, for batched attention to them: a pass packs the
    queries of each prefix's rows together (`_Packing`)."""

    k: list[torch.Tensor]  # per layer [C, Hkv, P, D]
    v: list[torch.Tensor]  # per layer [C, Hkv, P, D]
    lengths: torch.Tensor  # [C]
    c_idx: torch.Tensor  # per row: its prefix
    # whether a subset of rows copies out its prefixes: torch's kernels pad every prefix's
    # queries to the same number; `tree_kernel` reads each query's prefix where it lies
    compact: bool = True

    def select(self, rows: torch.Tensor) -> Grid:
        """The grid of some rows. Their prefixes are copied out only when compacting and they
        are under three quarters of the grid's (a copy costs memory: a grid of 60 prefixes is
        140 MB)."""
        if not self.compact:
            return Grid(self.k, self.v, self.lengths, self.c_idx[rows], compact=False)
        used, c_idx = torch.unique(self.c_idx[rows], return_inverse=True)
        if 4 * len(used) >= 3 * self.k[0].shape[0]:
            return Grid(self.k, self.v, self.lengths, self.c_idx[rows])
        return Grid([t[used] for t in self.k], [t[used] for t in self.v], self.lengths[used],
                    c_idx)

    def mask(self, dtype: torch.dtype) -> torch.Tensor | None:
        """[C, 1, 1, P]: -inf past each prefix's length; None where every prefix fills P."""
        positions = torch.arange(self.k[0].shape[2])
        allowed = positions[None, :] < self.lengths[:, None]
        if bool(allowed.all()):
            return None
        return torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, NEG)[:, None, None]


@dataclass
class Own:
    """Each row's own keys and values ([rows, Hkv, capacity, D] per layer), the slots each row
    has filled (`fills`: a row's tokens take slots 0..fill-1, rows fill unevenly) and which
    of them hold the row's prompt tokens."""

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    fills: list[int]
    prompt_slots: torch.Tensor  # [rows, capacity] bool: the row's own prompt tokens
    jobs: list[int] = field(default_factory=list)

    @property
    def fill(self) -> int:
        """Slots used by the fullest row: the key length of attention to own slots."""
        return max(self.fills, default=0)

    def reserve(self, extra: int) -> None:
        capacity = self.k[0].shape[2]
        if self.fill + extra <= capacity:
            return
        grow = max(self.fill + extra - capacity, capacity // 4, 16)
        for layers in (self.k, self.v):  # layer by layer: one old layer alive at a time
            for i, t in enumerate(layers):
                layers[i] = torch.cat([t, t.new_zeros(t.shape[0], t.shape[1], grow, t.shape[3])],
                                      2)
        self.prompt_slots = torch.cat(
            [self.prompt_slots, self.prompt_slots.new_zeros(self.prompt_slots.shape[0], grow)], 1)

    def select(self, rows: list[int]) -> Own:
        """Some rows, copied, with room for only what they hold (and a few more)."""
        index = torch.tensor(rows)
        fills = [self.fills[r] for r in rows]
        used = min(max(fills, default=0) + 8, self.k[0].shape[2])
        return Own([t[index, :, :used] for t in self.k], [t[index, :, :used] for t in self.v],
                   fills, self.prompt_slots[index, :used], [self.jobs[r] for r in rows])
