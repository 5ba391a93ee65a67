"""Rule-based fact spans and sentence splitting: the fallback when spaCy is not installed.

`slick_curator.probing.facts` uses these rules when spaCy or its English pipeline is missing
(and always for `backend="rules"`). They find, in order of the label they give:

* ``WORK_OF_ART`` -- a quoted title: text inside "…", “…” or ‘…’ that starts with a capital
  letter or a digit and has at most 12 words (the span is the text inside the quotes);
* ``DATE`` -- a month name with a day and/or a year ("4 August 1961", "August 4, 1961",
  "August 1961"), ISO and d/m/y dates, decades ("1990s"), "19th century", a year with an era
  ("336 BC", "AD 79"), and 4-digit years 1000-2099;
* ``MONEY`` / ``PERCENT`` / ``QUANTITY`` -- a number with a currency sign, a percent sign or
  word, or a unit or counted noun from a closed list ("8,848 metres", "3.5 million people");
  a bare number is not a fact to these rules;
* ``ENTITY`` -- a run of capitalised words, with lower-case connectors (of, de, van, …) and
  initials or abbreviations ("St.", "J.") inside it: "University of North Carolina at Chapel
  Hill", "J. K. Rowling". At a sentence start the first word is dropped when it is a common
  sentence opener ("The", "In", "However", a pronoun, …), so "Nairobi is the capital." keeps
  "Nairobi" and "In Kenya, …" keeps "Kenya"; a lone opener is no span.

Overlaps are resolved longest first. Sentences end at ``.``, ``!`` or ``?`` (with closing
quotes or brackets) before whitespace and a capital letter, digit or opening quote, except after
an initial or a known abbreviation ("Mr.", "St.", "e.g."; "No." before a digit); a line break
always ends a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# (start, end, label) in character offsets of the text.
Span = tuple[int, int, str]

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan\\.|Feb\\.|Mar\\.|Apr\\.|Jun\\.|Jul\\.|Aug\\.|Sept?\\.|Oct\\.|Nov\\.|Dec\\."
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"\d{3,4}(?:\s+(?:BC|AD|BCE|CE)\b)?"
_DATE_PATTERNS = [
    rf"\b(?:{_DAY}\s+(?:of\s+)?)(?:{_MONTHS})(?:,?\s+{_YEAR})?",  # 4 August 1961, 4th of May
    rf"\b(?:{_MONTHS})\s+{_DAY}\b(?:,?\s+{_YEAR})?",  # August 4, 1961
    rf"\b(?:{_MONTHS})\s+{_YEAR}",  # August 1961
    r"\b\d{4}-\d{2}-\d{2}\b",
    r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
    r"\b(?:1\d|20)\d0s\b",  # 1990s
    r"\b\d{1,2}(?:st|nd|rd|th)\s+centur(?:y|ies)\b",
    r"\b\d{1,4}\s+(?:BC|AD|BCE|CE)\b|\bAD\s+\d{1,4}\b",
    r"\b(?:1\d{3}|20\d{2})(?![\d,.]\d)",
]
_DATE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS))

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s+(?:thousand|million|billion|trillion))?"
_UNITS = (
    "km|kilometres|kilometers|kilometre|kilometer|m|metres|meters|metre|meter|cm|mm|"
    "miles|mile|mi|feet|foot|ft|inches|inch|yards|yd|square\\s+(?:kilometres|kilometers|miles|"
    "metres|meters|km)|km2|km²|m2|m²|sq\\s+mi|hectares|ha|acres|kg|kilograms|g|grams|tonnes|"
    "tons|t|lb|lbs|pounds|litres|liters|l|ml|°C|°F|degrees|mph|km/h|kph|knots|MW|GW|kW|"
    "people|inhabitants|residents|members|employees|students|children|copies|votes|"
    "years|months|weeks|days|hours|minutes|seconds|episodes|seasons|goals|albums|films|books"
)
_MONEY = re.compile(
    rf"(?:[$€£¥₹]|US\$)\s?(?:{_NUMBER}){_SCALE}"
    rf"|\b(?:{_NUMBER}){_SCALE}\s+(?:dollars|euros|yen|rupees|francs|marks|pounds\s+sterling)\b"
)
_PERCENT = re.compile(rf"\b(?:{_NUMBER})\s?(?:%|percent\b|per\s+cent\b)")
_QUANTITY = re.compile(rf"\b(?:{_NUMBER}){_SCALE}\s?(?:{_UNITS})(?!\w)")

_QUOTED = re.compile(r'"([^"\n]{1,200})"|“([^”\n]{1,200})”|‘([^’\n]{1,200})’')

# Lower-case words that may sit inside a capitalised name ("Bank of England", "Ludwig van").
_CONNECTORS = frozenset(
    "of de del della der des di da do dos du den van von la le las los y e the & upon al el "
    "bin ibn bint am zu".split()
)
# Capitalised words that open sentences without being names.
_OPENERS = frozenset(
    """a an the this that these those there here it its he she his her him they them their we
    our us you your i my me in on at by for from with without to of as after before during
    since until when while where whereas although though because if unless yes no not also
    however moreover furthermore meanwhile today yesterday tomorrow then thus so but and or
    nor yet both either neither each every all some many most several few one two three such
    other another what which who whom whose why how today's according among between under
    over about around born located known famous being once now later finally first second
    third last next sure okay ok well certainly absolutely indeed great hello hi hey thanks
    thank note unfortunately fortunately actually generally typically usually often
    sometimes overall additionally instead still perhaps maybe probably interestingly
    notably currently historically traditionally originally please imagine consider let see
    answer question summary conclusion example""".split()
)
# Words that end in "." without ending a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st mt ft jr sr rev gen col lt sgt capt cpt maj adm gov sen rep pres
    fr sra ste vol vols fig figs inc co corp ltd bros dept est approx ca c vs etc al
    e.g i.e cf jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k d.c""".split()
)

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)")
_OPENING = "\"'“‘(["
_EDGE_PUNCT = "\"'“”‘’()[]{},;:!?"


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, whitespace trimmed, by the rules above."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for match in _SENTENCE_END.finditer(text, line.start(), line.end()):
            after = text[match.end() : line.end()].lstrip().lstrip(_OPENING)
            if not after or not (after[0].isupper() or after[0].isdigit()):
                continue
            if match.group() == "." and _abbreviation_before(text, match.start()):
                continue
            if (
                match.group() == "."
                and after[0].isdigit()
                and _word_before(text, match.start()) in {"no", "nos"}
            ):
                continue  # "Symphony No. 4"
            spans.append((start, match.end()))
            start = match.end()
        spans.append((start, line.end()))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[0] < s[1]]


def rule_spans(text: str, sentences: list[tuple[int, int]] | None = None) -> list[Span]:
    """Fact candidates of `text` by the module's rules, non-overlapping, in text order."""
    if sentences is None:
        sentences = sentence_spans(text)
    candidates = quoted_spans(text)
    candidates += [(m.start(), m.end(), "DATE") for m in _DATE.finditer(text)]
    candidates += [(m.start(), m.end(), "MONEY") for m in _MONEY.finditer(text)]
    candidates += [(m.start(), m.end(), "PERCENT") for m in _PERCENT.finditer(text)]
    candidates += [(m.start(), m.end(), "QUANTITY") for m in _QUANTITY.finditer(text)]
    taken = longest_first(candidates)
    # Names come last and give way: "Hawaii on August 4, 1961" keeps the date whole.
    names = []
    for start, end, label in _capitalised_runs(text, {start for start, _ in sentences}):
        names += [(a, b, label) for a, b in _minus(text, start, end, taken)]
    return sorted(taken + longest_first(names))


def quoted_spans(text: str) -> list[Span]:
    """Quoted titles: the text inside "…", “…” or ‘…’, capitalised, at most 12 words."""
    spans: list[Span] = []
    for match in _QUOTED.finditer(text):
        group = next(g for g in range(1, 4) if match.group(g) is not None)
        inner = match.group(group)
        if (inner[:1].isupper() or inner[:1].isdigit()) and len(inner.split()) <= 12:
            start, end = _trim(text, match.start(group), match.end(group))
            spans.append((start, end, "WORK_OF_ART"))
    return spans


def _capitalised_runs(text: str, sentence_starts: set[int]) -> Iterator[Span]:
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    run: list[tuple[int, int]] = []  # (start, end) of the words in the current run
    pending: list[tuple[int, int]] = []  # connectors waiting for a capitalised word

    def flush() -> Iterator[Span]:
        if run:
            yield (run[0][0], run[-1][1], "ENTITY")
        run.clear()
        pending.clear()

    for start, end in words:
        core_start, core_end = _strip_word(text, start, end)
        word = text[core_start:core_end]
        at_sentence_start = start in sentence_starts
        if at_sentence_start:
            yield from flush()
        capitalised = _is_name_word(word)
        if capitalised and at_sentence_start and _bare(word).casefold() in _OPENERS:
            capitalised = False
        if capitalised and word not in {"I", "I'm", "I've", "I'd", "I'll"}:
            if core_start > start and run:  # opening punctuation ("(", a quote) breaks a run
                yield from flush()
            run.extend(pending)
            pending.clear()
            run.append((core_start, core_end))
            if core_end < end:  # trailing punctuation (not an abbreviation's period) ends it
                yield from flush()
        elif run and word.casefold() in _CONNECTORS and core_start == start and core_end == end:
            pending.append((core_start, core_end))
        else:
            yield from flush()
    yield from flush()


def _is_name_word(word: str) -> bool:
    bare = _bare(word)
    if not bare:
        return False
    first = bare[0]
    if first.isdigit():
        return False
    return first.isupper() or (len(bare) > 1 and bare[0].islower() and bare[1].isupper())  # iPhone


def _bare(word: str) -> str:
    return word.removesuffix("'s").removesuffix("’s")


def _strip_word(text: str, start: int, end: int) -> tuple[int, int]:
    """The word without edge punctuation or a possessive; an abbreviation keeps its period."""
    while start < end and text[start] in _EDGE_PUNCT:
        start += 1
    while end > start and text[end - 1] in _EDGE_PUNCT:
        end -= 1
    for suffix in ("'s", "’s"):
        if text.endswith(suffix, start, end):
            end -= len(suffix)
    if end > start and text[end - 1] == "." and not _is_abbreviation(text[start:end]):
        end -= 1
    return start, end


def _is_abbreviation(word: str) -> bool:
    if re.fullmatch(r"(?:[^\W\d_]\.)+", word):  # J. / D.C. / U.S.
        return True
    return word[:-1].casefold() in _ABBREVIATIONS


def _abbreviation_before(text: str, dot: int) -> bool:
    return _is_abbreviation(_word_before(text, dot, keep_dot=True))


def _word_before(text: str, dot: int, keep_dot: bool = False) -> str:
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start : dot + 1 if keep_dot else dot].lstrip(_OPENING)
    return word if keep_dot else word.casefold()


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _minus(text: str, start: int, end: int, taken: list[Span]) -> Iterator[tuple[int, int]]:
    """The parts of text[start:end] outside the `taken` spans that still hold a name word."""
    cuts = sorted((max(a, start), min(b, end)) for a, b, _ in taken if a < end and b > start)
    pieces, cursor = [], start
    for a, b in cuts:
        pieces.append((cursor, a))
        cursor = max(cursor, b)
    pieces.append((cursor, end))
    for a, b in pieces:
        words = [(m.start() + a, m.end() + a) for m in _WORD.finditer(text[a:b])]
        while words and not _is_name_word(text[slice(*_strip_word(text, *words[0]))]):
            words.pop(0)
        while words and not _is_name_word(text[slice(*_strip_word(text, *words[-1]))]):
            words.pop()
        if words:
            yield _strip_word(text, words[0][0], words[-1][1])


def longest_first(candidates: list[Span]) -> list[Span]:
    """Non-overlapping spans of `candidates`, in text order: the longest kept first, and of
    equally long ones at one place the one listed first (so the result is deterministic)."""
    ordered = sorted(dict.fromkeys(candidates), key=lambda s: (s[0] - s[1], s[0]))
    taken: list[Span] = []
    for span in ordered:
        if span[0] < span[1] and all(span[1] <= t[0] or span[0] >= t[1] for t in taken):
            taken.append(span)
    return sorted(taken)
