"""Which exemplars a row's prompts draw from: its group, split by answer kind.

A short-form row's exemplar turns come from short-form rows of its group, a free-form row's
from free-form rows, so the model answers in the form it is judged in: after long exemplar
answers a model states even a one-word capital as a sentence ("The capital of Kenya is …").
A group whose source holds one kind only keeps its name (and so the exemplar sets of earlier
releases). In a mixed group each kind draws from ``"<group> [short-form]"`` or
``"<group> [long-form]"`` when that part has at least k_shot + 1 distinct questions, else from
the whole group. A short-form row that may still get long exemplar answers is judged with
`fact_matching.SentenceMatcher`, which also accepts a sentence stating the gold.

Everything here is computed from the source's `RowIndex` (group, kind and question digest per
row), never from its rows, so a million-row source costs arrays, not objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slick_curator.probing.prompts import PoolIndex
from slick_curator.probing.records import Example
from slick_curator.probing.row_index import KINDS, RowIndex, partition


class ExemplarGroups:
    """The pool group of every (group, kind), from the exemplar source's `RowIndex` (or its
    examples)."""

    def __init__(self, source: RowIndex | Sequence[Example], *, k_shot: int,
                 override: str = "auto") -> None:
        self.override = override
        if not isinstance(source, RowIndex):
            source = RowIndex.build(source, override=override)
        self._source = source
        # Distinct questions per (group, kind): the number of distinct (group, kind, key).
        n_kinds = len(KINDS)
        labels = source.codes.astype(np.int64) * n_kinds + source.kinds
        distinct = source.distinct(labels)
        counts = {(source.groups[label // n_kinds], KINDS[label % n_kinds]): len(positions)
                  for label, (positions, _) in distinct.items()}
        self._kinds: dict[str, set[str]] = {}
        for group, kind in counts:
            self._kinds.setdefault(group, set()).add(kind)
        self._split = {(group, kind) for (group, kind), n in counts.items()
                       if len(self._kinds[group]) > 1 and n > k_shot}

    def name(self, example: Example, kind: str) -> str:
        """The pool group of a row of this kind."""
        return self._name(example.group, kind)

    def _name(self, group: str, kind: str) -> str:
        if (group, kind) in self._split:
            return f"{group} [{kind}-form]"
        return group

    def long_exemplars(self, example: Example, kind: str) -> bool:
        """Whether a row of this kind may get free-form exemplar answers (its pool mixes
        kinds, or holds long answers only): its short answer may come back as a sentence."""
        name = self.name(example, kind)
        if name != example.group:
            return kind == "long"
        return "long" in self._kinds.get(example.group, {"long"})

    def pool_index(self) -> PoolIndex:
        """Every pool group's candidates: each row of the source under its whole group and,
        where its kind is split off, under its kind's group too."""
        source = self._source
        out = {source.groups[code]: entry
               for code, entry in source.distinct(source.codes).items()}
        names, table = self._names_table(source.groups, split_only=True)
        labels = source.labelled(table)
        for label, entry in source.distinct(labels, np.flatnonzero(labels >= 0)).items():
            out[names[label]] = entry
        return out

    def pool_groups(self) -> set[str]:
        """The names of every pool group."""
        return set(self._source.groups) | {self._name(g, k) for g, k in self._split}

    def probed_keys(self, probed: RowIndex) -> dict[str, np.ndarray]:
        """The question digests of probed rows, by the pool group each row draws from."""
        names, table = self._names_table(probed.groups)
        labels = probed.labelled(table)
        by_name: dict[str, list[np.ndarray]] = {}
        for label, rows in partition(labels, np.arange(len(probed))).items():
            by_name.setdefault(names[label], []).append(probed.keys[rows])
        return {name: np.concatenate(parts) for name, parts in by_name.items()}

    def _names_table(self, groups: list[str], *, split_only: bool = False
                     ) -> tuple[list[str], np.ndarray]:
        """Pool group names and, per [group code, kind code], the index of its name (-1 for a
        group that is not split off, with `split_only`)."""
        names: dict[str, int] = {}
        table = np.full((max(len(groups), 1), len(KINDS)), -1, np.int64)
        for code, group in enumerate(groups):
            for kind_code, kind in enumerate(KINDS):
                name = self._name(group, kind)
                if not (split_only and name == group):
                    table[code, kind_code] = names.setdefault(name, len(names))
        return list(names), table
