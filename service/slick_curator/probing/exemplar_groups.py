"""Which exemplars a row's prompts draw from: its group, split by answer kind.

A short-form row's exemplar turns come from short-form rows of its group, a free-form row's
from free-form rows, so the model answers in the form it is judged in: after long exemplar
answers a model states even a one-word capital as a sentence ("The capital of Kenya is …").
A group whose source holds one kind only keeps its name (and so the exemplar sets of earlier
releases). In a mixed group each kind draws from ``"<group> [short-form]"`` or
``"<group> [long-form]"`` when that part has at least k_shot + 1 distinct questions, else from
the whole group. A short-form row that may still get long exemplar answers is judged with
`fact_matching.SentenceMatcher`, which also accepts a sentence stating the gold.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.prompts import question_key
from slick_curator.probing.records import Example


class ExemplarGroups:
    """The pool group of every (group, kind), from the exemplar source."""

    def __init__(self, source: Sequence[Example], *, k_shot: int, override: str = "auto") -> None:
        self.override = override
        questions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for example in source:
            kind = example_kind(example, override)
            questions[example.group][kind].add(question_key(example.question))
        self._split = {
            (group, kind)
            for group, by_kind in questions.items()
            if len(by_kind) > 1
            for kind, keys in by_kind.items()
            if len(keys) > k_shot
        }
        self._source = source
        self._kinds = {group: set(by_kind) for group, by_kind in questions.items()}

    def name(self, example: Example, kind: str) -> str:
        """The pool group of a row of this kind."""
        if (example.group, kind) in self._split:
            return f"{example.group} [{kind}-form]"
        return example.group

    def long_exemplars(self, example: Example, kind: str) -> bool:
        """Whether a row of this kind may get free-form exemplar answers (its pool mixes
        kinds, or holds long answers only): its short answer may come back as a sentence."""
        name = self.name(example, kind)
        if name != example.group:
            return kind == "long"
        return "long" in self._kinds.get(example.group, {"long"})

    def pool_examples(self) -> list[Example]:
        """The exemplar source with each row under its pool group (and its whole group)."""
        out = []
        for example in self._source:
            name = self.name(example, example_kind(example, self.override))
            out.append(example)
            if name != example.group:
                out.append(dataclasses.replace(example, group=name))
        return out

    def rows(self, examples: Sequence[Example]) -> list[Example]:
        """Probed rows as the pool sees them (under their pool group), for checks."""
        return [
            dataclasses.replace(e, group=self.name(e, example_kind(e, self.override)))
            for e in examples
        ]
