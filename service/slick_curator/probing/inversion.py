"""Turning a copular sentence around, so a fact that opens it can be probed at its end.

"Poland is the country where Kaczewo is located." states Poland before anything says what the
sentence is about: after the sentences before it the model cannot know that Kaczewo comes next,
so a probe at the fact's position asks it to guess the topic, not to recall the fact. An
equative "X is Y" says the same as "Y is X", so the fact is probed after the turned sentence
instead -- "The country where Kaczewo is located is …" -- where the answer is pinned down, as in
the paper's question.

The rule (no parser): the fact opens the sentence and is followed by one of ``is``, ``was``,
``are``, ``were``; the complement runs to the first comma, semicolon, colon, bracket or dash,
or the sentence end; it has two words or more and starts with a determiner, a possessive or a
wh-word ("the capital of Norway", "a city in Kenya", "where she studied"), so an adjective
("Paris is beautiful.") or an adverb ("Paris is also …") leaves the fact probed where it stands.

A wh-clause gets a head noun when turned: "Harvard is where she studied." is probed as "The
place where she studied is …", not "Where she studied is …", which reads as an open question:
SmolLM2 continued it "not known." (or "not a location.") in nearly every greedy answer for all
15 such P69 facts of bench/longform, three of them known at the question level
(bench/longform/RESULTS.md, 2026-12-06).
"""

from __future__ import annotations

import re

__all__ = ["turned_prefix"]

_COPULAS = ("is", "was", "are", "were")
_OPENERS = frozenset({
    "the", "a", "an", "its", "his", "her", "their", "our", "my", "your", "this", "that", "these",
    "those", "one", "where", "when", "what", "who", "which", "how",
})
# A wh-clause as a subject reads as a question ("Where she studied is …" → "unknown"); with a
# head noun it is a description ("The place where she studied is …").
_HEADS = {"where": "the place where", "when": "the time when", "who": "the person who",
          "what": "the thing that"}
_COMPLEMENT_END = re.compile(r"[,;:()\[\]]| - | – | — ")
_FINAL_PUNCTUATION = ".!?\"'”’ "


def turned_prefix(sentence: str, fact_end: int) -> str | None:
    """The turned sentence up to its fact ("The capital of Norway is"), or None.

    `sentence` opens with the fact, which ends at `fact_end`."""
    rest = sentence[fact_end:]
    words = rest.split(maxsplit=1)
    if not rest[:1].isspace() or len(words) < 2 or words[0] not in _COPULAS:
        return None
    copula, complement = words
    cut = _COMPLEMENT_END.search(complement)
    complement = (complement[: cut.start()] if cut else complement).rstrip(_FINAL_PUNCTUATION)
    complement_words = complement.split()
    if len(complement_words) < 2 or complement_words[0].casefold() not in _OPENERS:
        return None
    opener = complement_words[0].casefold()
    if opener in _HEADS:
        complement = f"{_HEADS[opener]} {complement.split(maxsplit=1)[1]}"
    return f"{complement[0].upper()}{complement[1:]} {copula}"
