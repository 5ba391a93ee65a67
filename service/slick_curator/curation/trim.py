"""The trim rule: a free-form answer without the sentences whose facts count as unknown.

Every sentence holding an unknown fact is dropped (a fact that straddles two sentences drops
both). What is left must stand on its own, or the row is dropped instead:

1. at least one sentence is left, and
2. no sentence left right after a dropped one opens with a word that points back at it: a
   pronoun or demonstrative ("He", "It", "They", "This", "These", "Such", "Both", …) or a
   connective ("Also", "However", "But", "Then", "Therefore", "In addition", …)
   (`REFERRING_OPENERS`).

The rule reads only the opening of the sentence that follows a cut: a pronoun deeper in a kept
sentence ("Paris, where he died, …"), or one whose antecedent was dropped two sentences back,
is not caught. The trimmed answer is the kept sentences in order, each cut closed by the widest
gap it spans (a paragraph break stays a paragraph break).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["REFERRING_OPENERS", "Trim", "trim_answer"]

REFERRING_OPENERS = frozenset(
    """he she it they we him her them his hers its their theirs this that these those such
    both another either neither latter former here also however but and or so then thus
    therefore hence moreover furthermore besides additionally consequently accordingly
    meanwhile nevertheless nonetheless still yet instead otherwise likewise similarly later
    afterwards afterward subsequently thereafter finally""".split()
)
# Two-word openers whose first word alone is too common to count ("the", "in", "as", …).
REFERRING_PAIRS = frozenset(
    {"the latter", "the former", "the same", "in addition", "in contrast", "as a", "as such",
     "for example", "for instance", "after that", "on the", "by then", "at that", "in turn",
     "even so", "what's more"}
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


@dataclass(frozen=True)
class Trim:
    """The outcome: the trimmed answer (None: the row cannot be trimmed), why, and the
    dropped sentences. A detail in [brackets] ends the reason (summaries count without it)."""

    text: str | None
    reason: str
    dropped: tuple[int, ...] = ()
    # Per kept sentence: its start and end in the answer, and its start in `text`.
    kept: tuple[tuple[int, int, int], ...] = ()

    def rebase(self, facts: Sequence[Mapping[str, Any]], sentences: Sequence[Mapping[str, Any]]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """`slick_facts` and `slick_sentences` of the trimmed answer: the kept ones, with
        offsets into `text` (and sentence indices among the kept sentences)."""
        where = {a: (i, new - a) for i, (a, _, new) in enumerate(self.kept)}
        starts = [int(s["start"]) for s in sentences]
        new_sentences = [{"start": new, "end": new + b - a} for a, b, new in self.kept]
        new_facts = []
        for fact in facts:
            start = int(fact["start"])
            home = max((i for i, a in enumerate(starts) if a <= start), default=None)
            if home is None or starts[home] not in where:
                continue
            index, shift = where[starts[home]]
            moved = {**fact, "start": start + shift, "end": int(fact["end"]) + shift}
            if fact.get("sentence", -1) != -1:
                moved["sentence"] = index
            if self.text is not None and self.text[moved["start"]:moved["end"]] == fact["text"]:
                new_facts.append(moved)
        return new_facts, new_sentences


def _opener(sentence: str) -> str | None:
    """The referring word or pair a sentence opens with, if any (as written)."""
    words = _WORD.findall(sentence[:80])
    if not words:
        return None
    first = words[0].lower().replace("’", "'")
    if first in REFERRING_OPENERS:
        return words[0]
    pair = " ".join(w.lower() for w in words[:2]).replace("’", "'")
    return " ".join(words[:2]) if pair in REFERRING_PAIRS else None


def _gap(answer: str, spans: Sequence[tuple[int, int]], after: int, before: int) -> str:
    """The text that joins sentence `after` to sentence `before`: the gap with the most line
    breaks among those between them (a single space when they touch)."""
    gaps = [answer[spans[i][1]:spans[i + 1][0]] for i in range(after, before)]
    best = max(gaps, key=lambda g: g.count("\n"), default="")
    return best or " "


def trim_answer(answer: str, sentences: Sequence[Mapping[str, Any]],
                facts: Sequence[Mapping[str, Any]], unknown: Sequence[bool]) -> Trim:
    """Apply the trim rule to `answer` (the text the probe read: offsets index it)."""
    spans = [(int(s["start"]), int(s["end"])) for s in sentences]
    if not spans or any(not 0 <= a <= b <= len(answer) for a, b in spans):
        return Trim(None, "no sentence offsets for this answer")
    if any(answer[int(f["start"]):int(f["end"])] != f["text"] for f in facts):
        return Trim(None, "the answer does not match the probed fact offsets")
    dropped: set[int] = set()
    for fact, bad in zip(facts, unknown, strict=True):
        if not bad:
            continue
        start, end = int(fact["start"]), int(fact["end"])
        dropped.update(i for i, (a, b) in enumerate(spans) if a < end and start < b)
    kept = [i for i in range(len(spans)) if i not in dropped]
    if not kept:
        return Trim(None, "no sentence would be left", tuple(sorted(dropped)))
    for i in kept:
        if i - 1 in dropped and (word := _opener(answer[spans[i][0]:spans[i][1]])):
            return Trim(None, f"a kept sentence refers back to a dropped one [{word}]",
                        tuple(sorted(dropped)))
    parts = [answer[spans[kept[0]][0]:spans[kept[0]][1]]]
    placed = [(*spans[kept[0]], 0)]
    for previous, i in zip(kept, kept[1:], strict=False):
        parts.append(_gap(answer, spans, previous, i) if i > previous + 1
                     else answer[spans[previous][1]:spans[i][0]])
        placed.append((*spans[i], sum(map(len, parts))))
        parts.append(answer[spans[i][0]:spans[i][1]])
    return Trim("".join(parts), f"sentences with unknown facts dropped [{len(dropped)} of "
                f"{len(spans)}]", tuple(sorted(dropped)), tuple(placed))
