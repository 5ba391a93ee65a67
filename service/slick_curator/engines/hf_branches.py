"""Shared prompt prefixes for the transformers decoder: clusters, KV branches, padded caches.

Prompts are first clustered by the prefix they all share (a group's few-shot exemplars), and
that prefix is prefilled once (`cluster_by_prefix`). Inside a cluster prompts often share
more: the fact probes of one free-form answer are one prompt followed by answer heads that
extend each other ("... The capital of Kenya is" / "... The capital of Kenya is Nairobi. It
lies on the"). `plan_branches` finds those longer shared prefixes as a radix trie over the
prompts' remaining tokens. The decoder prefills the trie level by level, one batched forward
per level, each node on top of its parent's cache (the KV cache *branches* at every node),
and each prompt then prefills only the tokens below its deepest node.

`Branches` is a batch of cached sequences of different lengths. Row r's keys and values lie
where its tokens were computed, with padding between and after them that the mask hides;
explicit position ids (`length[r]` is the position of row r's next token) keep every token
at its true position, so each row computes what it would compute alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MIN_SHARED_PREFIX = 8
# Inside a cluster a branch pays for one more batched forward and one more copy of its
# parent's cache; a few shared tokens per prompt already make it worth that.
MIN_BRANCH_TOKENS = 4


def cluster_by_prefix(
    token_lists: Sequence[list[int]],
    min_prefix: int = MIN_SHARED_PREFIX,
    limits: Sequence[int] | None = None,
    frugal: bool = False,
):
    """Groups of prompt indices that share a token prefix, with that prefix's length.

    Sorting puts prompts with long common prefixes next to each other; a cluster grows while
    the shared prefix stays at least `min_prefix` tokens. A prefix never covers more than
    `limits[i]` tokens of item i (default: all but the last token, whose logits are needed).
    Members are listed in sorted token order.

    `frugal`: where prefixes are kept between batches, a prompt does not join a cluster when
    the tokens its members would stop sharing outnumber those it would share: two few-shot
    sets that open with the same exemplar stay two clusters instead of one whose members
    recompute every exemplar after the first.
    """
    limits = limits if limits is not None else [len(t) - 1 for t in token_lists]
    order = sorted(range(len(token_lists)), key=lambda i: token_lists[i])
    clusters: list[tuple[int, list[int]]] = []
    for i in order:
        tokens = token_lists[i]
        if clusters:
            shared, members = clusters[-1]
            head = token_lists[members[0]]
            common = 0
            limit = min(shared, limits[i])
            while common < limit and head[common] == tokens[common]:
                common += 1
            if common >= min_prefix and not (frugal and (shared - common) * len(members) > common):
                clusters[-1] = (common, members + [i])
                continue
        clusters.append((limits[i], [i]))
    return clusters


@dataclass(frozen=True)
class Node:
    """A shared prefix inside a cluster: tokens[member][start:end], on top of `parent`."""

    parent: int  # index into BranchPlan.nodes; -1: the cluster prefix itself
    start: int
    end: int
    member: int
    depth: int


@dataclass
class BranchPlan:
    """The trie of one batch: its nodes, and under which node each prompt's own tokens start."""

    nodes: list[Node]
    parent: list[int]  # per prompt: its deepest node (-1: the cluster prefix)
    start: list[int]  # per prompt: the first token it prefills itself
    saved: int  # tokens the nodes save (prefilled once instead of once per prompt)

    @property
    def depth(self) -> int:
        return max((n.depth for n in self.nodes), default=-1) + 1


def plan_branches(
    token_lists: Sequence[list[int]],
    limits: Sequence[int] | None = None,
    min_shared: int = MIN_BRANCH_TOKENS,
) -> BranchPlan:
    """The radix trie of prompts' tokens (after their cluster prefix), its unprofitable
    levels removed.

    A node is a run of at least `min_shared` tokens that two or more prompts share beyond
    their parent node; it never covers more than `limits[i]` tokens of prompt i (default: all
    but the last, whose logits are needed), so every prompt keeps at least one token of its own.
    Each level of the trie costs one more forward pass; a level that saves too few tokens for
    that (`_worth_a_forward`) is dropped and its tokens go to the nodes and prompts below it.
    """
    limits = limits if limits is not None else [len(t) - 1 for t in token_lists]
    nodes, parent, start = _trie(token_lists, limits, max(1, min_shared))
    nodes, parent, start = _drop_cheap_levels(nodes, parent, start)
    alone = sum(len(t) for t in token_lists)
    computed = sum(n.end - n.start for n in nodes) + sum(
        len(t) - s for t, s in zip(token_lists, start, strict=True)
    )
    return BranchPlan(nodes, parent, start, alone - computed)


# A level's forward pays a fixed cost plus a copy of each node's parent cache; measured on
# CPU (SmolLM2-135M, float32) those come to about 48 prefill tokens and 8 per node.
LEVEL_COST_TOKENS = 48
NODE_COST_TOKENS = 8


def _worth_a_forward(saved: int, nodes: int) -> bool:
    return saved >= LEVEL_COST_TOKENS + NODE_COST_TOKENS * nodes


def _trie(token_lists, limits, min_shared):
    nodes: list[Node] = []
    parent = [-1] * len(token_lists)
    start = [0] * len(token_lists)

    def split(members: list[int], node: int, offset: int, depth: int) -> None:
        rests = [token_lists[i][offset:] for i in members]
        caps = [limits[i] - offset for i in members]
        for shared, group in cluster_by_prefix(rests, min_shared, caps):
            ids = [members[g] for g in group]
            if len(ids) == 1:
                parent[ids[0]], start[ids[0]] = node, offset
                continue
            nodes.append(Node(node, offset, offset + shared, ids[0], depth))
            split(ids, len(nodes) - 1, offset + shared, depth + 1)

    split(list(range(len(token_lists))), -1, 0, 0)
    return nodes, parent, start


def _drop_cheap_levels(nodes: list[Node], parent: list[int], start: list[int]):
    """Top-down: keep a level when its nodes, reaching up to their nearest kept ancestor,
    save enough tokens; a dropped node's children and prompts hang from that ancestor."""
    sharers = [0] * len(nodes)
    for deepest in parent:
        k = deepest
        while k >= 0:
            sharers[k] += 1
            k = nodes[k].parent
    anchor = [-1] * len(nodes)  # nearest kept ancestor (-1: the cluster prefix)
    kept: dict[int, int] = {}  # old node index -> new index
    out: list[Node] = []
    depth_of_new: list[int] = []

    def hang(k: int) -> int:  # where node k's children hang
        return k if k in kept else anchor[k]

    for depth in range(max((n.depth for n in nodes), default=-1) + 1):
        level = [k for k, n in enumerate(nodes) if n.depth == depth]
        for k in level:
            anchor[k] = hang(nodes[k].parent) if nodes[k].parent >= 0 else -1
        begin = {k: nodes[anchor[k]].end if anchor[k] >= 0 else 0 for k in level}
        saved = sum((nodes[k].end - begin[k]) * (sharers[k] - 1) for k in level)
        if not _worth_a_forward(saved, len(level)):
            continue
        for k in level:
            up = kept[anchor[k]] if anchor[k] >= 0 else -1
            kept[k] = len(out)
            depth_of_new.append(depth_of_new[up] + 1 if up >= 0 else 0)
            out.append(Node(up, begin[k], nodes[k].end, nodes[k].member, depth_of_new[-1]))
    new_parent, new_start = [], []
    for deepest in parent:
        k = hang(deepest) if deepest >= 0 else -1
        new_parent.append(kept[k] if k >= 0 else -1)
        new_start.append(nodes[k].end if k >= 0 else 0)
    return out, new_parent, new_start


@dataclass
class Branches:
    """Cached sequences, one per row, padded to one width; the mask marks real tokens."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, [rows, kv heads, width, head dim]
    mask: torch.Tensor  # [rows, width], long
    length: list[int]  # per row: tokens cached = the position of the next token

    @property
    def width(self) -> int:
        return self.mask.shape[1]

    @classmethod
    def from_cache(cls, cache, mask: torch.Tensor, length: list[int]) -> Branches:
        return cls([(layer.keys, layer.values) for layer in cache.layers], mask, length)


def stack(parts: Sequence[tuple[Branches, int]]) -> Branches:
    """Rows picked from several Branches (source, row), right-padded to one width.

    The common case, every row from one source, is one index_select per tensor: the copy
    an expand of a shared prefix needs anyway.
    """
    sources: dict[int, Branches] = {}
    for source, _ in parts:
        sources.setdefault(id(source), source)
    width = max(s.width for s in sources.values())
    reference = next((s for s in sources.values() if s.kv), None)
    pieces, order = [], []
    for key, source in sources.items():
        rows = [r for r, (s, _) in enumerate(parts) if id(s) == key]
        index = torch.tensor([parts[r][1] for r in rows], device=source.mask.device)
        pad = width - source.width
        if source.kv:
            kv = [(F.pad(k.index_select(0, index), (0, 0, 0, pad)),
                   F.pad(v.index_select(0, index), (0, 0, 0, pad))) for k, v in source.kv]
        elif reference is not None:  # an empty prefix beside cached rows: all padding
            kv = [(k.new_zeros(len(rows), k.shape[1], width, k.shape[3]),
                   v.new_zeros(len(rows), v.shape[1], width, v.shape[3]))
                  for k, v in reference.kv]
        else:
            kv = []
        pieces.append((kv, F.pad(source.mask.index_select(0, index), (0, pad)),
                       [source.length[parts[r][1]] for r in rows]))
        order += rows
    if len(pieces) == 1:
        kv, mask, length = pieces[0]
        return Branches(kv, mask, length)
    device = pieces[0][1].device
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(order))
    back = back.to(device)
    kv = [
        (torch.cat([p[0][layer][0] for p in pieces]).index_select(0, back),
         torch.cat([p[0][layer][1] for p in pieces]).index_select(0, back))
        for layer in range(len(pieces[0][0]))
    ]
    mask = torch.cat([p[1] for p in pieces]).index_select(0, back)
    in_order = [x for p in pieces for x in p[2]]
    return Branches(kv, mask, [in_order[i] for i in back.tolist()])
