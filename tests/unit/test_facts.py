"""Fact extraction for fact-level SliCK: spans, offsets, filters, both backends."""

from __future__ import annotations

import itertools
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slick_curator.probing import facts as facts_module
from slick_curator.probing.fact_rules import rule_spans, sentence_spans
from slick_curator.probing.facts import (
    FACT_LABELS,
    FactExtractor,
    NerUnavailableError,
    analyse_answers,
    extract_facts,
    extract_facts_batch,
    split_sentences,
)

OBAMA = (
    "Barack Obama was born in Honolulu, Hawaii on August 4, 1961. Obama later studied at "
    'Harvard University.\nHe wrote "Dreams from My Father" in 1995.'
)


@pytest.fixture(scope="module")
def spacy_extractor() -> FactExtractor:
    """The spaCy backend; the facts extra (in dev) must be installed, as in CI."""
    try:
        return FactExtractor(backend="spacy")
    except NerUnavailableError as error:
        pytest.fail(f"{error} (setup.sh --dev installs it)")


@pytest.fixture(scope="module")
def rules_extractor() -> FactExtractor:
    return FactExtractor(backend="rules")


def texts(extractor: FactExtractor, answer: str, question: str = "") -> list[tuple[str, str]]:
    return [(f.text, f.label) for f in extractor.extract(answer, question)]


# --- the spaCy backend -----------------------------------------------------------------------


def test_spacy_backend_loads_only_what_ner_and_sentences_need(spacy_extractor):
    nlp = spacy_extractor._nlp
    assert nlp.pipe_names == ["senter", "ner"]
    assert spacy_extractor.describe().startswith("spacy 3.8.")
    assert "en_core_web_sm" in spacy_extractor.describe()
    # cached: a second extractor shares the loaded pipeline
    assert FactExtractor(backend="spacy")._nlp is nlp


def test_spacy_finds_entities_dates_and_quoted_titles(spacy_extractor):
    found = texts(spacy_extractor, OBAMA, "Where was Barack Obama born?")
    assert found == [
        ("Honolulu", "GPE"),
        ("Hawaii", "GPE"),
        ("August 4, 1961", "DATE"),
        ("Harvard University", "ORG"),
        ("Dreams from My Father", "WORK_OF_ART"),  # a quoted title the small NER misses
        ("1995", "DATE"),
    ]


def test_offsets_index_the_answer(spacy_extractor, rules_extractor):
    for extractor in (spacy_extractor, rules_extractor):
        for fact in extractor.extract(OBAMA):
            assert OBAMA[fact.start : fact.end] == fact.text
            assert fact.label in FACT_LABELS


def test_spans_from_the_question_or_earlier_in_the_answer_are_not_facts(spacy_extractor):
    answer = "The capital of Kenya is Nairobi. Nairobi lies in Kenya."
    assert texts(spacy_extractor, answer, "What is the capital of Kenya?") == [("Nairobi", "GPE")]
    assert texts(spacy_extractor, answer) == [("Kenya", "GPE"), ("Nairobi", "GPE")]
    # a part of a name stated earlier is no new fact
    assert [f.text for f in spacy_extractor.extract(OBAMA)][:1] == ["Barack Obama"]
    assert "Obama" not in [f.text for f in spacy_extractor.extract(OBAMA)]


def test_labels_that_are_not_facts_are_dropped(spacy_extractor):
    answer = (
        "Today, one of the first presidents met at 3 pm. George Washington was the first "
        "president of the United States from 1789."
    )
    found = texts(spacy_extractor, answer)
    assert ("George Washington", "PERSON") in found
    assert ("United States", "GPE") in found  # the leading lower-case article is trimmed
    assert ("1789", "DATE") in found
    labels = {label for _, label in found}
    assert not labels & {"ORDINAL", "TIME"}
    assert "Today" not in [t for t, _ in found] and "one" not in [t for t, _ in found]


def test_rule_names_complete_split_entities(spacy_extractor):
    found = texts(spacy_extractor, "Henry II of Jerusalem is a child of Hugh III of Cyprus.")
    assert [t for t, _ in found] == ["Henry II of Jerusalem", "Hugh III of Cyprus"]
    assert found[0][1] == "PERSON"  # the label of the first entity inside the name


def test_common_nouns_add_concepts_no_ner_sees(spacy_extractor):
    answer = "Metallica plays heavy metal."
    assert "heavy metal" not in [t for t, _ in texts(spacy_extractor, answer)]
    with_nouns = FactExtractor(backend="spacy", common_nouns=True)
    assert ("heavy metal", "CONCEPT") in texts(with_nouns, answer)
    assert "parser" in with_nouns._nlp.pipe_names


def test_batch_equals_one_by_one(spacy_extractor):
    answers = [OBAMA, "The capital of Kenya is Nairobi.", "", "No facts here."]
    questions = ["Where was Barack Obama born?", "What is the capital of Kenya?", "", ""]
    batch = extract_facts_batch(answers, questions)
    assert batch == [extract_facts(a, q) for a, q in zip(answers, questions, strict=True)]
    assert batch[2] == [] and batch[3] == []
    assert extract_facts_batch(answers) == [extract_facts(a) for a in answers]


def test_sentences_with_offsets(spacy_extractor, rules_extractor):
    for extractor in (spacy_extractor, rules_extractor):
        (analysis,) = extractor.analyse([OBAMA])
        assert [s.text for s in analysis.sentences] == [
            "Barack Obama was born in Honolulu, Hawaii on August 4, 1961.",
            "Obama later studied at Harvard University.",
            'He wrote "Dreams from My Father" in 1995.',
        ]
        for sentence in analysis.sentences:
            assert OBAMA[sentence.start : sentence.end] == sentence.text
        title = next(f for f in analysis.facts if f.text == "Dreams from My Father")
        assert analysis.sentence_of(title) == 2
    assert split_sentences(OBAMA) == list(analyse_answers([OBAMA])[0].sentences)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="backend must be"):
        FactExtractor(backend="stanza")
    with pytest.raises(ValueError, match="questions has 1 items but answers has 2"):
        FactExtractor(backend="rules").analyse(["a", "b"], ["q"])
    with pytest.raises(NerUnavailableError, match="no_such_pipeline"):
        FactExtractor(pipeline="no_such_pipeline")


def test_without_spacy_auto_falls_back_to_the_rules(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` now raises ImportError
    extractor = FactExtractor()
    assert extractor.backend == "rules" and extractor.describe() == "rules"
    assert [f.text for f in extractor.extract(OBAMA)][:3] == ["Barack Obama", "Honolulu", "Hawaii"]
    with pytest.raises(NerUnavailableError, match="spaCy is not installed"):
        FactExtractor(backend="spacy")


def test_default_extractor_is_spacy_when_installed(spacy_extractor):
    assert facts_module._default().backend == "spacy"


# --- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The capital of Kenya is Nairobi.", [("Kenya", "ENTITY"), ("Nairobi", "ENTITY")]),
        ("Nairobi is the capital of Kenya.", [("Nairobi", "ENTITY"), ("Kenya", "ENTITY")]),
        ("In Kenya, the rain falls.", [("Kenya", "ENTITY")]),  # an opener is no name
        ("However, it rained.", []),
        (
            "She studied at University of North Carolina.",
            [("University of North Carolina", "ENTITY")],
        ),
        (
            "J. K. Rowling lives in St. Louis.",
            [("J. K. Rowling", "ENTITY"), ("St. Louis", "ENTITY")],
        ),
        (
            "He was born in Hawaii on August 4, 1961.",
            [("Hawaii", "ENTITY"), ("August 4, 1961", "DATE")],
        ),
        (
            "It fell in 4 August 1961 or in the 1990s.",
            [("4 August 1961", "DATE"), ("1990s", "DATE")],
        ),
        ("It dates from 336 BC and from AD 79.", [("336 BC", "DATE"), ("AD 79", "DATE")]),
        (
            "It is 8,848 metres tall and weighs 3.5 kg.",
            [("8,848 metres", "QUANTITY"), ("3.5 kg", "QUANTITY")],
        ),
        (
            "It has 45% fat, costs $5 million and has 3 rooms.",
            [("45%", "PERCENT"), ("$5 million", "MONEY")],
        ),
        (
            'He wrote "Dreams from My Father" and “Ulysses”.',
            [("Dreams from My Father", "WORK_OF_ART"), ("Ulysses", "WORK_OF_ART")],
        ),
        ("Kenya's capital is big.", [("Kenya", "ENTITY")]),
        ("I think so.", []),
    ],
)
def test_rules(text, expected):
    assert [(text[a:b], label) for a, b, label in rule_spans(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "Mr. Smith met Dr. Who in St. Louis. They left.",
            ["Mr. Smith met Dr. Who in St. Louis.", "They left."],
        ),
        ("Symphony No. 4 is long. Yes.", ["Symphony No. 4 is long.", "Yes."]),
        ("It ended. then it went on.", ["It ended. then it went on."]),  # no capital: one sentence
        ("Line one\n\n  Line two.", ["Line one", "Line two."]),
        ('He said "Go." Then he left.', ['He said "Go."', "Then he left."]),
        ("", []),
    ],
)
def test_rule_sentences(text, expected):
    assert [text[a:b] for a, b in sentence_spans(text)] == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*"ab AB.,!?\"'“”()0123456789\n$%-", "of ", "the ", "Kenya", "May ", "1961", " km"]
        ),
        max_size=40,
    ).map("".join)
)
def test_rules_offsets_are_sound_on_any_text(text):
    spans = rule_spans(text)
    assert spans == sorted(spans)
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert end <= start  # no overlaps
    for a, b, _ in spans:
        assert 0 <= a < b <= len(text) and text[a:b] == text[a:b].strip()
    (analysis,) = FactExtractor(backend="rules").analyse([text])
    for fact in analysis.facts:
        assert text[fact.start : fact.end] == fact.text
    previous = 0
    for sentence in analysis.sentences:
        assert text[sentence.start : sentence.end] == sentence.text and sentence.text.strip()
        assert sentence.start >= previous
        previous = sentence.end


def test_a_hedge_before_a_date_or_number_is_not_part_of_the_fact():
    answer = "He wrote it early in his career, around 1595. The town has about 3 million people."
    facts = {f.text for f in FactExtractor(backend="rules").extract(answer)}
    spacy_facts = {f.text for f in FactExtractor().extract(answer)}
    assert "1595" in facts and "around 1595" not in spacy_facts
    assert "around 1595" not in facts | spacy_facts
