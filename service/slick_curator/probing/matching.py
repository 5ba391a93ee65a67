"""Deciding whether a model's answer matches a gold answer, and when it never can.

Normalisation is SQuAD's (lower-case, drop punctuation and the articles a/an/the, collapse
whitespace), made Unicode-aware:

* NFKC first, so composed and decomposed forms ("Zürich" as one code point or as u + U+0308)
  and compatibility forms (full-width letters, ligatures, no-break spaces) compare equal.
  Accents are kept: "Zurich" does not match "Zürich".
* ``str.casefold`` rather than ``lower``: "STRASSE" matches "straße", as German readers expect.
* Every Unicode punctuation character (categories P*) is deleted, as SQuAD does, so "U.S."
  matches "US" and "St. Louis" matches "St Louis" -- except dashes (Pd), which become a space.
  Deleting them would make "Saint-Denis" equal "SaintDenis", a spelling no model writes, and
  leave it unequal to "Saint Denis", which models do write; hyphenated place and person names are
  common in entity-QA golds. The price is that "e-mail" no longer equals "email".
* Articles are removed as whole words, i.e. as whitespace-separated tokens after the steps
  above. Words are whitespace-delimited, so in ``contains`` mode scripts written without spaces
  (Chinese, Japanese) only match whole space-delimited runs.

A gold that normalises to nothing ("The", "?!") is compared at the first of these levels that
leaves it non-empty: without article removal ("The" matches "the." but not "The Beatles"), then
as the case-folded, whitespace-collapsed raw string ("?!"). An empty or blank prediction never
matches anything.

``squad`` mode is exactly the SQuAD / EntityQuestions exact-match normaliser (``str.lower``,
delete the ASCII punctuation of ``string.punctuation``, remove the articles with the regex
``\b(a|an|the)\b``, collapse whitespace), for numbers comparable with papers. Where the default
differs: it keeps the ASCII symbols that are not Unicode punctuation (``$ + < = > ^ ` | ~``,
which SQuAD deletes), deletes non-ASCII punctuation (SQuAD keeps "«", "—", "’"), turns dashes
into spaces (SQuAD: "Saint-Denis" = "SaintDenis"), applies NFKC and casefold, and never lets a
blank prediction match.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from collections.abc import Sequence
from typing import Literal

MatchMode = Literal["exact", "squad", "contains"]

_MODES = ("exact", "squad", "contains")
_ARTICLES = frozenset({"a", "an", "the"})
# The ASCII characters that a following mark may compose with (a test checks the table):
# letters ("u" + U+0308 -> "ü"; Q and q compose with nothing, kept for simplicity) and "<=>"
# ("<" + U+0338 -> "≮").
_ASCII_COMPOSING = frozenset(string.ascii_letters + "<=>")
# `Matcher.hopeless` verdicts kept per matcher.
_MAX_VERDICTS = 4096
# (delete punctuation, remove articles) for the normalisation levels, strictest first.
_LEVELS = ((True, True), (True, False), (False, False))


class _PunctuationTable(dict):
    """str.translate table built on demand: dashes -> space, other punctuation -> deleted."""

    def __missing__(self, cp: int) -> str | int | None:
        category = unicodedata.category(chr(cp))
        value = " " if category == "Pd" else None if category[0] == "P" else cp
        self[cp] = value
        return value


_PUNCTUATION = _PunctuationTable()


def _fold(text: str, punctuation: bool) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.translate(_PUNCTUATION) if punctuation else folded


def _tokens(text: str, punctuation: bool = True, articles: bool = True) -> tuple[str, ...]:
    tokens = _fold(text, punctuation).split()
    return tuple(t for t in tokens if t not in _ARTICLES) if articles else tuple(tokens)


_SQUAD_PUNCTUATION = str.maketrans("", "", string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
# After lower-casing and deleting ASCII punctuation, text made of these alone splits into the
# same words by whitespace as by the article regex's \b, so prefixes can be judged by words.
_SQUAD_WORDLIKE = re.compile(r"[\w\s]*")


def squad_normalize(text: str) -> str:
    """The SQuAD v1.1 evaluation script's `normalize_answer`, exactly."""
    text = text.lower().translate(_SQUAD_PUNCTUATION)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def normalize(text: str) -> str:
    """SQuAD-style normalisation made Unicode-aware; see the module docstring for the rules."""
    return " ".join(_tokens(text))


def is_correct(prediction: str, golds: Sequence[str], mode: MatchMode = "exact") -> bool:
    """Whether `prediction` matches any of `golds` (whole answer, or contained in `contains`)."""
    return Matcher(golds, mode)(prediction)


def hopeless(prefix: str, golds: Sequence[str], mode: MatchMode = "exact") -> bool:
    """True only if no continuation of `prefix` can make `is_correct(prefix + c)` true."""
    return Matcher(golds, mode).hopeless(prefix)


class Matcher:
    """The golds of one question, normalised once; call it on predictions.

    Plain attributes only, so it pickles into worker processes.
    """

    def __init__(self, golds: Sequence[str], mode: MatchMode = "exact") -> None:
        if isinstance(golds, str):
            raise TypeError("golds must be a sequence of strings, not a single string")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        self._squad = frozenset(squad_normalize(g) for g in golds) if mode == "squad" else None
        keys: dict[tuple[int, tuple[str, ...]], None] = {}
        for gold in golds:
            for level, (punctuation, articles) in enumerate(_LEVELS):
                tokens = _tokens(gold, punctuation, articles)
                if tokens:
                    keys[level, tokens] = None
                    break
        # (level, tokens) per distinct gold; blank golds are dropped, they can never match.
        self._keys = tuple(keys)
        # Verdicts of `hopeless` by prefix: exact mode asks about the same texts for each of a
        # row's prompts (half of its calls, 2026-12-07); bounded, emptied when full.
        self._hopeless: dict[str, bool] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_hopeless": {}}  # verdicts are a cache: they stay behind

    def __call__(self, prediction: str) -> bool:
        """Whether `prediction` matches any gold; same as `is_correct`."""
        if self._squad is not None:
            return squad_normalize(prediction) in self._squad
        if not prediction.strip():
            return False
        by_level: dict[int, tuple[str, ...]] = {}
        for level, gold in self._keys:
            if level not in by_level:
                by_level[level] = _tokens(prediction, *_LEVELS[level])
            tokens = by_level[level]
            if self.mode == "exact":
                if tokens == gold:
                    return True
            elif f" {' '.join(gold)} " in f" {' '.join(tokens)} ":
                return True
        return False

    def hopeless(self, prefix: str) -> bool:
        """True only if no continuation of `prefix` can match; same as module `hopeless`.

        Sound but conservative: only the part of `prefix` whose normalisation no continuation
        can change is judged (see `_stable_prefix`), its last word is treated as still growing,
        and a growing word that could become an article is never held against the prefix. In
        ``contains`` mode anything can still follow, so only gold-less matchers are hopeless.
        """
        known = self._hopeless.get(prefix)
        if known is None:
            if len(self._hopeless) >= _MAX_VERDICTS:
                self._hopeless.clear()
            known = self._hopeless[prefix] = self._judge_hopeless(prefix)
        return known

    def _judge_hopeless(self, prefix: str) -> bool:
        if self._squad is not None:
            return self._squad_hopeless(prefix)
        if not self._keys:
            return True
        if self.mode == "contains":
            return False
        stable = _stable_prefix(prefix)
        # A last letter left out of the stable head can only gain marks ("u" -> "ü" -> "ǘ"):
        # whatever follows, the folded answer has a letter built on its ASCII base in that
        # place (" Bü" is hopeless for "Bangkok": no "a" is built on "u").
        loose = _ascii_base(prefix[len(stable):])
        return not any(
            _reachable(_fold(stable + loose, _LEVELS[level][0]), gold, _LEVELS[level][1],
                       loose_last=bool(loose))
            for level, gold in self._keys
        )

    def _squad_hopeless(self, prefix: str) -> bool:
        # Sound only where words are whitespace-delimited and lower-casing is context-free;
        # anything else (non-ASCII punctuation, a half-decoded U+FFFD, final sigma) may still
        # match, so it is never pruned.
        if "" in self._squad:
            return False
        folded = prefix.lower().translate(_SQUAD_PUNCTUATION)
        if "\u03a3" in prefix or not _SQUAD_WORDLIKE.fullmatch(folded):
            return False
        return not any(_reachable(folded, tuple(gold.split()), True) for gold in self._squad)


def _stable_prefix(prefix: str) -> str:
    """The longest head of `prefix` ending at an NFKC segment boundary.

    NFKC(head + tail) == NFKC(head) + NFKC(tail) for any tail when tail starts at a boundary,
    and casefold and punctuation removal work per character, so folding this head gives a prefix
    of the folded full prediction whatever the continuation. A trailing character may still
    compose with what follows ("u" + U+0308 -> "ü", "<" + U+0338 -> "≮"), so the last boundary
    character itself is left out -- unless it composes with nothing: whitespace, and ASCII
    other than letters and "<=>" (digits, punctuation). Then " A-1" is judged whole, and hopeless
    for "Kern County" (the word "1..." can be no gold word), not as " A-" and held open.
    """
    for k in range(len(prefix) - 1, -1, -1):
        ch = prefix[k]
        if ch.isspace() or (ch.isascii() and ch not in _ASCII_COMPOSING):
            return prefix[: k + 1]
        if _starts_segment(ch):
            return prefix[:k]
    return ""


@functools.lru_cache(maxsize=8192)
def _starts_segment(ch: str) -> bool:
    # A boundary sits before ch when its decomposition starts with a starter that never
    # composes with what precedes it (Unicode's NFKC "hasBoundaryBefore"). U+FFFD never
    # counts: detokenisers emit it for a multi-byte character cut between tokens, and the next
    # token replaces it, so text up to it is not yet a prefix of the final answer.
    if ch == "\ufffd":
        return False
    if ch.isascii():
        return True
    head = unicodedata.normalize("NFKD", ch)[0]
    return unicodedata.combining(head) == 0 and head not in _composes_backward()


@functools.cache
def _composes_backward() -> frozenset[str]:
    """Characters that are the second half of a canonical composition (incl. Hangul V/T)."""
    seconds = {chr(cp) for cp in range(0x1161, 0x1176)} | {chr(cp) for cp in range(0x11A8, 0x11C3)}
    for cp in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(chr(int(parts[1], 16)))
    return frozenset(seconds)


def _reachable(folded: str, gold: tuple[str, ...], articles: bool, loose_last: bool = False
               ) -> bool:
    """Whether text starting with `folded` can still tokenise (minus articles) to `gold`.

    `loose_last`: the last character is the ASCII letter a letter of the answer is built on
    (that letter itself, or an accented one), which may yet gain combining marks, so it stands
    for any letter whose decomposition starts with it."""
    words = folded.split()
    partial = words.pop() if words and not folded[-1].isspace() else ""
    done = [w for w in words if not (articles and w in _ARTICLES)]
    if list(gold[: len(done)]) != done:
        return False
    if not partial:
        return True
    if articles and any(article.startswith(partial) for article in _ARTICLES):
        return True
    if len(done) >= len(gold):
        return False
    word = gold[len(done)]
    if not loose_last:
        return word.startswith(partial)
    head = partial[:-1]
    return (word.startswith(head) and len(word) > len(head)
            and _base(word[len(head)]) == partial[-1])


@functools.lru_cache(maxsize=4096)
def _ascii_base(last: str) -> str:
    """The ASCII letter that `last` (one character) is built on, if it is one letter with
    marks ("ü", "Ａ"; not "ǆ", two letters), else ""."""
    if len(last) != 1:
        return ""
    base, *marks = unicodedata.normalize("NFKD", last)
    if base.isascii() and base.isalpha() and all(unicodedata.combining(m) for m in marks):
        return base
    return ""


@functools.lru_cache(maxsize=4096)
def _base(ch: str) -> str:
    """The character a letter is built on: "ü" -> "u"."""
    return unicodedata.normalize("NFD", ch)[0]
