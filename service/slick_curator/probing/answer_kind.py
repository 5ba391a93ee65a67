"""Short-form or free-form: which SliCK protocol an answer gets.

A **short** answer is a phrase -- a name, a title, a date, a number ("Nairobi", "University of
North Carolina at Chapel Hill", "alternative rock") -- and is judged as the paper does, on the
whole answer. A **long** answer is a sentence or more, judged fact by fact.

The rule, on the answer stripped of surrounding whitespace (words = whitespace-separated
tokens; a "content word" is an all-lower-case word that is not one of the connectors a name
may hold: of, the, and, de, van, …):

1. empty -> short (nothing to split into facts; the row's other checks reject it);
2. a line break -> long; so is a sentence end inside (``.``, ``!`` or ``?`` followed by a
   space and a capital letter or digit, not after an initial or abbreviation such as "J." or
   "St.") with a content word anywhere ("Impulse! Records" is a label, not two sentences);
3. a lower-case auxiliary, copula or modal (is, was, are, has, did, will, can, …), or a
   pronoun with a contracted verb ("It's", "they're") -> long: a phrase has no finite verb,
   and these are the verbs that most factual sentences have;
4. more than 6 words with a content word -> long (long names and titles are capitalised
   words and connectors only, so "Ranulf de Gernon, 4th Earl of Chester" stays short);
5. ending in ``.``, ``!`` or ``?`` with at least 3 words and a content word -> long
   ("Metallica plays heavy metal.");
6. otherwise short.

Measured on EntityQuestions (all golds of train, dev and test: short) and on the long-form
EntityQuestions answers of bench/longform (long); see tests/unit/test_answer_kind.py.
"""

from __future__ import annotations

import re
from typing import Literal

from slick_curator.probing import fact_rules
from slick_curator.probing.records import Example

__all__ = ["MAX_SHORT_WORDS", "AnswerKind", "answer_kind", "example_kind"]

AnswerKind = Literal["short", "long"]

MAX_SHORT_WORDS = 6

_CLAUSE_WORDS = frozenset(
    """is are was were be been being isn't aren't wasn't weren't has have had hasn't
    haven't hadn't does did don't doesn't didn't will would shall should can could may might
    must won't wouldn't can't couldn't shouldn't""".split()
)
_CONNECTORS = frozenset(
    """of the a an and & de del della der des di da do dos du den van von la le las los y e
    upon al el bin ibn bint am zu at in on for to""".split()
)
# "It's Nairobi", "they're Swedish": a pronoun with a contracted verb is a clause; a name's
# possessive ("Kenya's capital") is not.
_PRONOUN_VERB = re.compile(
    r"\b(?:it|he|she|that|there|what|who|they|we|you|i)['’](?:s|re|m|ve|ll|d)\b", re.IGNORECASE
)
_EDGE = "\"'“”‘’«»()[]{},;:!?."


def answer_kind(answer: str) -> AnswerKind:
    """``"short"`` for a phrase, ``"long"`` for a sentence or more (rule in the module doc)."""
    text = answer.strip()
    if not text:
        return "short"
    if "\n" in text:
        return "long"
    words = [w.strip(_EDGE) for w in text.split()]
    words = [w for w in words if w]
    content = any(_content_word(w) for w in words)
    if content and len(fact_rules.sentence_spans(text)) > 1:
        return "long"
    if any(w in _CLAUSE_WORDS for w in words) or _PRONOUN_VERB.search(text):
        return "long"
    if len(words) > MAX_SHORT_WORDS and content:
        return "long"
    if text[-1] in ".!?" and len(words) >= 3 and content:
        return "long"
    return "short"


def example_kind(example: Example, override: str = "auto") -> AnswerKind:
    """The kind a row is probed as: `override` unless "auto"; a row with several accepted
    answers (aliases) is short-form; else `answer_kind` of its answer."""
    if override in ("short", "long"):
        return override  # type: ignore[return-value]
    if len(example.answers) != 1:
        return "short"
    return answer_kind(example.answers[0])


def _content_word(word: str) -> bool:
    # "d'Arquien" and "iPhone" hold a capital: parts of names, not content words.
    return word[0].islower() and word.islower() and word.casefold() not in _CONNECTORS
