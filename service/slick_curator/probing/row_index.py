"""What the exemplar pool needs to know of every row, in numpy arrays: 29 bytes a row.

A million-row dataset as `Example` objects is gigabytes; the pool only needs, per row, its
group, its answer kind and which question it asks. `RowIndex.build` takes them in one pass
over any iterable of examples (a list, or rows streamed from a Parquet file), so the rows
themselves need not stay in memory: the pool fetches the few rows its exemplar sets use by
position.

Questions are compared by a 128-bit digest of `question_key`: two different questions share a
digest with a chance of about n² / 2^129 (1e-26 for a million rows), so the sets drawn are the
ones exact string comparison would draw.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.records import Example

__all__ = ["KINDS", "IndexedRows", "RowIndex", "key_digest", "question_key", "single_answer"]

KINDS = ("short", "long")  # kind codes: the index in this tuple
KEY = np.dtype("V16")
_BATCH = 8192


def single_answer(example: Example) -> bool:
    """Whether a row has one answer (the SliCK paper skipped rows with several)."""
    return len(example.answers) == 1


def question_key(question: str) -> str:
    """Questions that differ only in case or spacing are the same question."""
    return " ".join(question.casefold().split())


def key_digest(question: str) -> np.void:
    """The digest `RowIndex.keys` holds for `question`."""
    return np.void(hashlib.blake2b(question_key(question).encode(), digest_size=16).digest())


@dataclass
class RowIndex:
    """Per indexed row: `positions` (index in the iterable it was built from), `codes` (its
    group: an index into `groups`), `kinds` (an index into KINDS) and `keys` (its question's
    digest). `counters` are per-group tallies of whatever `tally` returned per row."""

    groups: list[str]
    positions: np.ndarray  # int64
    codes: np.ndarray  # int32
    kinds: np.ndarray  # int8
    keys: np.ndarray  # V16
    counters: dict[str, Counter[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, examples: Iterable[Example], *, override: str = "auto",
              keep: Callable[[Example], bool] | None = None,
              tally: Callable[[Example], str] | None = None,
              at_rows: bool = False) -> RowIndex:
        """Index `examples` (those `keep` accepts), in one pass and a batch at a time. A row's
        position is its index in `examples`, or with `at_rows` its input row number."""
        group_codes: dict[str, int] = {}
        counters: dict[str, Counter[str]] = {}
        parts: list[tuple[np.ndarray, ...]] = []
        positions: list[int] = []
        codes: list[int] = []
        kinds: list[int] = []
        digests: list[bytes] = []

        def flush() -> None:
            if positions:
                parts.append((np.array(positions, np.int64), np.array(codes, np.int32),
                              np.array(kinds, np.int8),
                              np.frombuffer(b"".join(digests), KEY).copy()))
                for buffer in (positions, codes, kinds, digests):
                    buffer.clear()

        for position, example in enumerate(examples):
            if keep is not None and not keep(example):
                continue
            positions.append(example.row if at_rows else position)
            codes.append(group_codes.setdefault(example.group, len(group_codes)))
            kinds.append(KINDS.index(example_kind(example, override)))
            digests.append(hashlib.blake2b(question_key(example.question).encode(),
                                           digest_size=16).digest())
            if tally is not None:
                counters.setdefault(example.group, Counter())[tally(example)] += 1
            if len(positions) == _BATCH:
                flush()
        flush()
        if not parts:
            return cls(list(group_codes), np.zeros(0, np.int64), np.zeros(0, np.int32),
                       np.zeros(0, np.int8), np.zeros(0, KEY), counters)
        columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
        return cls(list(group_codes), *columns, counters=counters)

    @classmethod
    def merge(cls, parts: Sequence[RowIndex]) -> RowIndex:
        """One index of rows indexed in parts (`at_rows`, say every n-th row each): rows in
        position order, groups coded in the order their first rows come, as one pass over
        all the rows would have built it."""
        firsts: dict[str, int] = {}
        for part in parts:
            codes, first = np.unique(part.codes, return_index=True)
            for code, at in zip(codes.tolist(), part.positions[first].tolist(), strict=True):
                group = part.groups[code]
                firsts[group] = min(at, firsts.get(group, at))
        groups = sorted(firsts, key=firsts.__getitem__)
        code_of = {group: code for code, group in enumerate(groups)}
        recoded = [np.array([code_of[g] for g in part.groups], np.int32)[part.codes]
                   if len(part) else part.codes for part in parts]
        positions = np.concatenate([part.positions for part in parts] or [np.zeros(0, np.int64)])
        order = np.argsort(positions, kind="stable")
        counters: dict[str, Counter[str]] = {}
        for part in parts:
            for group, counter in part.counters.items():
                counters.setdefault(group, Counter()).update(counter)
        return cls(groups, positions[order],
                   np.concatenate(recoded or [np.zeros(0, np.int32)])[order],
                   np.concatenate([p.kinds for p in parts] or [np.zeros(0, np.int8)])[order],
                   np.concatenate([p.keys for p in parts] or [np.zeros(0, KEY)])[order],
                   counters)

    def __len__(self) -> int:
        return len(self.positions)

    def kind_counts(self) -> dict[str, int]:
        """Rows per answer kind, kinds in the order they first occur."""
        kinds, first, counts = np.unique(self.kinds, return_index=True, return_counts=True)
        return {KINDS[kinds[i]]: int(counts[i]) for i in np.argsort(first)}

    def distinct(self, labels: np.ndarray, rows: np.ndarray | None = None
                 ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per label (one int per row), the first row of each distinct question among the
        rows with that label (only `rows`, when given): (positions, keys), in input order."""
        rows = np.arange(len(self)) if rows is None else rows
        labels = labels[rows]
        keys = self.keys[rows]
        # By label, then question, then input order: the first of each run is the first
        # occurrence of that question in that label.
        order = np.lexsort((rows, keys, labels))
        labels, keys, rows = labels[order], keys[order], rows[order]
        first = np.ones(len(rows), bool)
        first[1:] = (labels[1:] != labels[:-1]) | (keys[1:] != keys[:-1])
        labels, rows = labels[first], rows[first]
        return {label: (self.positions[part], self.keys[part])
                for label, part in partition(labels, rows).items()}

    def labelled(self, table: np.ndarray) -> np.ndarray:
        """Each row's entry of `table`, an array indexed by [group code, kind code]."""
        return table[self.codes, self.kinds]


def partition(labels: np.ndarray, rows: np.ndarray) -> dict[int, np.ndarray]:
    """`rows` by their label, each part in ascending order."""
    if not len(rows):
        return {}
    order = np.lexsort((rows, labels))
    labels, rows = labels[order], rows[order]
    bounds = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate(([0], bounds))
    return {int(labels[start]): part
            for start, part in zip(starts, np.split(rows, bounds), strict=True)}


@dataclass(frozen=True)
class IndexedRows:
    """Rows known by their `RowIndex` and fetched by position when needed (an exemplar
    source that need not be held in memory)."""

    index: RowIndex
    fetch: Callable[[Sequence[int]], list[Example]]
