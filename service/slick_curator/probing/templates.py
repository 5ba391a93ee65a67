"""Spotting a group that mixes question templates (relations).

SliCK draws a row's exemplars from its own relation: "Who owns X?" rows are shown "Who owns
Y?" exemplars, so the answer's form is learnt from the prompt. A dataset without a group
column is one group, and a file that concatenates relations silently breaks that rule. A
question's template is guessed as its leading lower-case words, up to three, before the first
capitalised word or number after the first word ("Where was Barack Obama born?" -> "where
was"), which is how entity questions are phrased. A group is flagged when two or more such
templates each hold a sizeable share of it; free-form chat questions rarely repeat a template,
so they are not flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from slick_curator.probing.records import Example

MIN_SHARE = 0.1  # a template is "sizeable" from this share of its group
MIN_ROWS = 5  # … and this many rows


def question_template(question: str) -> str:
    """The leading template words of a question (see the module docstring)."""
    words: list[str] = []
    for i, word in enumerate(question.split()):
        if len(words) == 3 or (i and (word[:1].isupper() or word[:1].isdigit())):
            break
        words.append(word.casefold().strip("?.,!:;\"'"))
    return " ".join(words)


def mixed_template_warnings(examples: Iterable[Example]) -> list[str]:
    """One warning per group that looks like several question templates."""
    by_group: dict[str, Counter[str]] = {}
    for example in examples:
        by_group.setdefault(example.group, Counter())[question_template(example.question)] += 1
    return template_warnings(by_group)


def template_warnings(by_group: Mapping[str, Counter[str]]) -> list[str]:
    """The warnings of `mixed_template_warnings` from each group's template counts."""
    warnings = []
    for group in sorted(by_group):
        counts = by_group[group]
        total = sum(counts.values())
        big = [(t, n) for t, n in counts.most_common() if n >= MIN_ROWS and n / total >= MIN_SHARE]
        if len(big) >= 2:
            shown = ", ".join(f"'{t} …' ({n / total:.0%})" for t, n in big[:4])
            warnings.append(
                f"group {group!r} looks like {len(big)} question templates ({shown}); SliCK "
                "draws exemplars from the same relation: set a group column "
                "(--group-column) so each relation is its own group"
            )
    return warnings
