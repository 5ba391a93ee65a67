"""When a continuation states a fact where the answer does.

A fact probe puts the model right before the fact (the prompt plus the assistant's answer up
to the fact), or asks it the question the fact's sentence answers (`copular`). The
continuation is judged on normalised words (`matching.normalize`: case, punctuation and
articles do not count):

* ``position`` (the rule we keep, measured in bench/longform/RESULTS.md): a fact inside the
  answer is stated when the continuation *begins* with the fact's words, whole words only
  ("Nairobi, the largest city" states "Nairobi"; "Nairobian" does not). A fact that opens a
  sentence has nothing before it to pin it down -- "Oslo is the capital of Norway." may come
  back as "The capital of Norway is Oslo.", after the answer's first sentence as well as at
  its start -- so it is stated when the continuation's first sentence holds the fact's words
  anywhere, in order.
* ``sentence``: every fact is stated when the first sentence of the continuation holds it
  anywhere (a looser rule, kept for the measurement).

Both matchers give the engine the same hints as `matching.Matcher`: `hopeless` (no
continuation of this text can be correct) and `settled` (nothing generated after this text can
change the verdict), so a probe stops as soon as its fact is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from slick_curator.probing import fact_rules
from slick_curator.probing.answer_kind import answer_kind
from slick_curator.probing.matching import (
    _ARTICLES,
    Matcher,
    MatchMode,
    _fold,
    _stable_prefix,
    _tokens,
)

FactRule = Literal["position", "sentence"]


class FactMatcher:
    """Judges continuations of a fact probe; plain attributes only, so it pickles."""

    def __init__(self, fact: str, *, opening: bool, rule: FactRule = "position") -> None:
        """`opening`: the fact opens a sentence of the answer (its first or a later one)."""
        if rule not in ("position", "sentence"):
            raise ValueError(f"rule must be 'position' or 'sentence', got {rule!r}")
        words = _tokens(fact) or _tokens(fact, articles=False) or _tokens(fact, False, False)
        self.words = words
        self.anywhere = opening or rule == "sentence"

    def __call__(self, continuation: str) -> bool:
        if not self.words:
            return False
        if self.anywhere:
            return _holds(_tokens(first_sentence(continuation)), self.words)
        return _tokens(continuation)[: len(self.words)] == self.words

    def stated_in(self, text: str) -> bool:
        """Whether `text` holds the fact's words (a question that gives the fact away)."""
        return bool(self.words) and _holds(_tokens(text), self.words)

    def hopeless(self, prefix: str) -> bool:
        """True only when no continuation of `prefix` can be correct."""
        if not self.words:
            return True
        if self.anywhere:  # the fact may still come later in the sentence
            return False
        done, partial = _settled_words(prefix)
        n = len(self.words)
        if len(done) >= n:
            return done[:n] != self.words
        if done != self.words[: len(done)]:
            return True
        if not partial or any(article.startswith(partial) for article in _ARTICLES):
            return False
        return not self.words[len(done)].startswith(partial)

    def settled(self, prefix: str) -> bool:
        """True once the verdict on `prefix` + anything is the verdict on `prefix`."""
        if self.anywhere:
            sentence = first_sentence(prefix)
            closed = len(sentence) < len(prefix.strip())
            done, _ = _settled_words(sentence if closed else prefix)
            return closed or _holds(done, self.words)
        done, _ = _settled_words(prefix)
        return len(done) >= len(self.words)


def first_sentence(text: str) -> str:
    """The first sentence of a continuation (the rules' splitter; a line break ends it too)."""
    text = text.strip()
    spans = fact_rules.sentence_spans(text)
    return text[spans[0][0] : spans[0][1]] if spans else text


def _holds(tokens: tuple[str, ...], words: tuple[str, ...]) -> bool:
    n = len(words)
    return any(tokens[i : i + n] == words for i in range(len(tokens) - n + 1))


def _settled_words(prefix: str) -> tuple[tuple[str, ...], str]:
    """The complete words of `prefix` (articles dropped) and the word still growing."""
    folded = _fold(_stable_prefix(prefix), True)
    words = folded.split()
    partial = words.pop() if words and not folded[-1].isspace() else ""
    return tuple(w for w in words if w not in _ARTICLES), partial


class SentenceMatcher:
    """A short-form row whose exemplar turns include free-form answers: the model may answer
    "The capital of Kenya is Nairobi." for "Nairobi". An answer counts when it matches as
    usual, or when it is a sentence (`answer_kind` long) whose first sentence holds a gold as
    whole words. Nothing is hopeless: a sentence may name the gold at its end."""

    def __init__(self, golds: Sequence[str], mode: MatchMode = "exact") -> None:
        self._whole = Matcher(golds, mode)
        self._inside = Matcher(golds, "contains")

    def __call__(self, prediction: str) -> bool:
        if self._whole(prediction):
            return True
        return answer_kind(prediction) == "long" and self._inside(first_sentence(prediction))

    def hopeless(self, prefix: str) -> bool:
        return False
