"""The bookkeeping of exact mode's tree (`tree_expansion`) that needs no model: its paths, a
level's candidate children as arrays, which uncomputed paths of a prompt a level computes
(`plan_frontier`), and the tokens drafted after a path that repeats itself (`repeat_draft`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Candidates", "Path", "plan_frontier", "repeat_draft"]


@dataclass(eq=False)
class Path:
    """A sample's path so far: its prompt (chunk position), tokens and text, its mass."""

    job: int
    tokens: list[int]
    data: bytes
    text: str
    prob: float  # sampling mass
    slots: list[int]  # own-cache slots of its tokens that are computed


class Candidates:
    """A level's (parent path, token, probability) candidates, as arrays: a level of a chunk
    has tens of thousands, a tuple each cost more than judging most of them."""

    def __init__(self) -> None:
        self.parents: list[Path] = []
        self.tokens: list[np.ndarray] = []  # per add: [paths, k]
        self.probs: list[np.ndarray] = []

    def add(self, parents: list[Path], tokens: np.ndarray, probs: np.ndarray) -> None:
        """`tokens`, `probs`: [len(parents), k], row i the children of parents[i]."""
        self.parents += parents
        self.tokens.append(tokens)
        self.probs.append(probs)

    def arrays(self) -> tuple[list[Path], np.ndarray, np.ndarray, np.ndarray]:
        """(parents, each candidate's parent index, token, probability), in order added."""
        if not self.tokens:
            return self.parents, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        parent_of, first = [], 0
        for block in self.tokens:
            paths, k = block.shape
            parent_of.append(np.repeat(np.arange(first, first + paths), k))
            first += paths
        tokens = np.concatenate([block.reshape(-1) for block in self.tokens])
        probs = np.concatenate([block.reshape(-1) for block in self.probs])
        return (self.parents, np.concatenate(parent_of), tokens.astype(np.int64, copy=False),
                probs.astype(np.float64, copy=False))


def plan_frontier(paths: list[Path], room: float, per_level: int, nodes_left: int):
    """Which of one prompt's uncomputed paths to compute now: (take, waiting, parked, cut).
    The least likely paths whose mass fits in `room` are parked; of the others, the most
    likely `per_level` are computed now, the next wait for a later level, and those beyond
    `nodes_left` are cut. Parking is revisable, as in a best-first expansion: a path parked
    at one level is computed at a later one once less likely paths come to fill the room, so
    the mass left is the least likely paths' wherever they are in the tree. (A choice made
    per level spends the room on the first levels' paths and must then compute every deeper
    path, down to 1e-12: a third of the nodes of 64 rows, measured 2026-12-07.)"""
    paths = sorted(paths, key=lambda path: path.prob)
    parked = 0
    for path in paths:
        if path.prob > room:
            break
        room -= path.prob
        parked += 1
    rest = paths[parked:][::-1]  # most likely first
    nodes_left = max(nodes_left, 0)
    take = min(per_level, nodes_left)
    return rest[:take], rest[take:nodes_left], paths[:parked], rest[nodes_left:]


def repeat_draft(tokens: list[int], size: int) -> list[int]:
    """The next `size` tokens if `tokens` repeat their last period: the tokens after the last
    earlier occurrence of the last token, again and again ("-A-A" after "A-A-A")."""
    if size < 1 or len(tokens) < 2:
        return []
    for earlier in range(len(tokens) - 2, -1, -1):
        if tokens[earlier] == tokens[-1]:
            period = tokens[earlier + 1:]
            return [period[i % len(period)] for i in range(size)]
    return []
