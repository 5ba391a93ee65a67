"""Judging answers given in sentences: does the answer state the gold?

A model fine-tuned on free-form answers ("The capital of Kenya is Nairobi.") answers a held-out
short question the same way, so exact match would fail every answer it gives. The sentence
judge instead reads the answer's **first sentence** and counts it correct when it **states a
gold more often than the question does**:

* the first sentence only, because free-form training answers state the asked fact first;
  what follows (the joined answers of bench/longform) is about other subjects, where a gold
  would be a coincidence, not an answer;
* more often than the question, because restating the subject copies the question's words:
  for "What is the capital of Zarqa Governorate?" (gold "Zarqa"; 39 % of EntityQuestions' P36
  test golds occur in their question) "The capital of Zarqa Governorate is Amman." must not
  count, while "The capital of Zarqa Governorate is Zarqa." does.

Words are compared after the probe's normalisation (`probing.matching.normalize`), as whole
word runs. An answer abstains when it is empty or its first sentence or whole text is an
abstention phrase (normalised exact match), as the short-form judge decides.

A gold that is itself free-form (dev rows carved from free-form training data) is stated when
every fact of its first sentence is (facts as the probe finds them, `probing.facts`; a first
sentence without facts must be stated whole).
"""

from __future__ import annotations

from collections.abc import Sequence

from slick_curator.finetune.data import TrainRow
from slick_curator.probing import fact_rules
from slick_curator.probing.answer_kind import answer_kind
from slick_curator.probing.matching import Matcher, normalize

__all__ = ["SentenceJudge", "answers_in_sentences", "first_sentence", "states"]


def answers_in_sentences(rows: Sequence[TrainRow]) -> bool:
    """Whether most training rows' original answers are free-form: the tuned model will answer
    in sentences, so its answers need the sentence judge."""
    free_form = sum(answer_kind(r.answers[0]) == "long" for r in rows if r.answers)
    return free_form > len(rows) / 2


def first_sentence(text: str) -> str:
    """The first sentence of `text` (the rules' sentence splitter), or "" for blank text."""
    spans = fact_rules.sentence_spans(text)
    return text[spans[0][0] : spans[0][1]] if spans else ""


def _words(text: str) -> tuple[str, ...]:
    return tuple(normalize(text).split())


def _count(needle: tuple[str, ...], words: tuple[str, ...]) -> int:
    n = len(needle)
    return sum(words[i : i + n] == needle for i in range(len(words) - n + 1))


def states(sentence: str, gold: str, question: str = "") -> bool:
    """Whether `sentence` holds `gold` as whole words more often than `question` does."""
    needle = _words(gold)
    return bool(needle) and _count(needle, _words(sentence)) > _count(needle, _words(question))


class SentenceJudge:
    """(correct, abstained) of answers given in sentences; see the module docstring."""

    def __init__(self, phrases: Sequence[str]) -> None:
        self.abstains = Matcher(list(phrases), "exact")
        self._extractor = None
        self._stated_by: dict[tuple[str, str], tuple[str, ...]] = {}

    def __call__(self, prediction: str, golds: Sequence[str], question: str = ""
                 ) -> tuple[bool, bool]:
        first = first_sentence(prediction)
        if not first or self.abstains(first) or self.abstains(prediction):
            return False, True
        return any(all(states(first, part, question) for part in self.parts(gold, question))
                   for gold in golds), False

    def parts(self, gold: str, question: str) -> tuple[str, ...]:
        """What an answer must state for `gold`: itself, or a free-form gold's first facts."""
        if answer_kind(gold) == "short":
            return (gold,)
        key = (gold, question)
        if key not in self._stated_by:
            self._stated_by[key] = self._first_facts(gold, question)
        return self._stated_by[key]

    def _first_facts(self, gold: str, question: str) -> tuple[str, ...]:
        from slick_curator.probing.facts import FactExtractor  # spaCy only when needed

        if self._extractor is None:
            self._extractor = FactExtractor()
        analysis = self._extractor.analyse([gold], [question])[0]
        facts = tuple(f.text for f in analysis.facts if analysis.sentence_of(f) == 0)
        return facts or (first_sentence(gold),)
