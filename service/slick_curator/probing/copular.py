"""Copular sentences opened by their fact: turned around, or the question they answer.

"Poland is the country where Kaczewo is located." states Poland before anything says what the
sentence is about, so a probe at the fact's position asks the model to guess the topic, not to
recall the fact. An equative "X is Y" says "Y is X" and answers "What is Y?":
- a fact opening the answer is probed at the end of the sentence turned around ("The country
  where Kaczewo is located is …"), right after the user's question, where it is pinned down;
- a fact opening a later sentence is asked: the answer so far becomes an earlier turn, then
  "What is the country where Kaczewo is located?" (unless the question holds the fact's
  words: its echo would count, so `Prober._fact_unit` turns that sentence). After a complete
  answer a cloze is a poor probe: SmolLM2-135M continued "… The record label of Revolver is"
  by copying the pattern ("the record label of …") where, asked, it named labels. Measured on 243 long-form
  EntityQuestions golds (bench/longform/RESULTS.md, 2026-12-06): Known-vs-Unknown agreement
  with the QA level 89.3 % with every such sentence turned, 90.1 % with later ones asked,
  89.7 % when the answer's own first sentence was not turned either.

The rule (no parser): the fact opens the sentence and is followed by one of ``is``, ``was``,
``are``, ``were``; the complement runs to the first comma, semicolon, colon, bracket or dash,
or the sentence end; it has two words or more and starts with a determiner, a possessive or a
wh-word ("the capital of Norway", "a city in Kenya", "where she studied"), so an adjective
("Paris is beautiful.") or an adverb ("Paris is also …") leaves the fact probed where it stands.
A wh-clause gets a head noun ("Harvard is where she studied." → "The place where she studied
is …", "What is the place where she studied?"): headless, "Where she studied is …" reads as an
open question, and SmolLM2 continued it "not known." for all 15 such P69 facts of the bench.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Turned", "turn_copular"]

_COPULAS = ("is", "was", "are", "were")
_OPENERS = frozenset({
    "the", "a", "an", "its", "his", "her", "their", "our", "my", "your", "this", "that", "these",
    "those", "one", "where", "when", "what", "who", "which", "how",
})
_HEADS = {"where": "the place where", "when": "the time when", "who": "the person who",
          "what": "the thing that"}
_COMPLEMENT_END = re.compile(r"[,;:()\[\]]| - | – | — ")
_FINAL_PUNCTUATION = ".!?\"'”’ "


@dataclass(frozen=True)
class Turned:
    """A copular sentence opened by its fact, as "the capital of Norway" + "is"."""

    complement: str  # what the sentence says the fact is (a wh-clause with its head noun)
    copula: str

    @property
    def prefix(self) -> str:
        """The turned sentence up to its fact: "The capital of Norway is"."""
        return f"{self.complement[0].upper()}{self.complement[1:]} {self.copula}"

    @property
    def question(self) -> str:
        """The question the sentence answers: "What is the capital of Norway?"."""
        wh = "Who" if self.complement.startswith("the person who ") else "What"
        return f"{wh} {self.copula} {self.complement}?"


def turn_copular(sentence: str, fact_end: int) -> Turned | None:
    """`sentence`, which opens with the fact ending at `fact_end`, turned around; None where it
    is no equative sentence the rule knows."""
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
    return Turned(complement, copula)
