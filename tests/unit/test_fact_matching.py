"""When a fact probe's continuation states the fact, and the engine hints that go with it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slick_curator.probing.fact_matching import FactMatcher, first_sentence


@pytest.mark.parametrize(
    ("continuation", "stated"),
    [
        ("Nairobi.", True),
        (" Nairobi, the largest city of Kenya.", True),
        ("nairobi", True),
        ("Nairobian food.", False),
        ("Mombasa. Nairobi is not.", False),
        ("the city of Nairobi", False),  # the answer states it right here, or not at all
        ("", False),
    ],
)
def test_a_fact_inside_the_answer_must_come_first(continuation, stated):
    assert FactMatcher("Nairobi", opening=False)(continuation) is stated


def test_articles_and_punctuation_do_not_count():
    matcher = FactMatcher("United States", opening=False)
    assert matcher("the United States of America")
    assert matcher("United-States")  # a dash is a space to the normaliser
    assert not matcher("United Kingdom")


@pytest.mark.parametrize(
    ("continuation", "stated"),
    [
        ("Oslo is the capital of Norway.", True),
        ("The capital of Norway is Oslo.", True),
        ("The capital of Norway is Bergen. Oslo is larger.", False),
        ("The capital of Norway is Osloville.", False),
    ],
)
def test_an_opening_fact_may_come_anywhere_in_the_first_sentence(continuation, stated):
    assert FactMatcher("Oslo", opening=True)(continuation) is stated


def test_the_sentence_rule_accepts_an_inner_fact_later_in_the_first_sentence():
    assert FactMatcher("Nairobi", opening=False, rule="sentence")("the city of Nairobi.")
    assert not FactMatcher("Nairobi", opening=False)("the city of Nairobi.")
    with pytest.raises(ValueError, match="rule"):
        FactMatcher("Nairobi", opening=False, rule="anywhere")


def test_hints_stop_a_probe_as_soon_as_its_verdict_is_known():
    inner = FactMatcher("New Brunswick", opening=False)
    assert not inner.hopeless(" New Bru") and not inner.settled(" New Bru")
    assert inner.hopeless(" Nova") and inner.hopeless(" New York")
    assert inner.settled(" New Brunswick. ") and not inner.settled(" New Brunswick")
    assert not inner.hopeless(" th")  # may still become "the New Brunswick"
    opening = FactMatcher("Oslo", opening=True)
    assert not opening.hopeless("Bergen is")  # Oslo may still come in this sentence
    assert opening.settled("The capital is Oslo ") and not opening.settled("The capital is Os")
    assert opening.settled("Bergen is big. It")  # the first sentence is over


def test_first_sentence():
    assert first_sentence(" Oslo is in Norway. It is big.") == "Oslo is in Norway."
    assert first_sentence("St. Louis is in Missouri. Yes.") == "St. Louis is in Missouri."
    assert first_sentence("no end") == "no end"


WORDS = st.sampled_from(
    ["Oslo", "oslo", "Os", "the", "The", "capital", "is", "Norway", "New", "York", "of", "Bergen"]
)
GLUE = st.sampled_from([" ", " ", ". ", ", ", "-", "", "\n", "! "])
TEXT = st.lists(st.tuples(WORDS, GLUE), max_size=8).map(lambda ps: "".join(w + g for w, g in ps))
FACTS = st.sampled_from(["Oslo", "New York", "the Norway", "Bergen"])


@settings(max_examples=400, deadline=None)
@given(fact=FACTS, opening=st.booleans(), rule=st.sampled_from(["position", "sentence"]),
       prefix=TEXT, rest=TEXT)
def test_hints_are_sound(fact, opening, rule, prefix, rest):
    matcher = FactMatcher(fact, opening=opening, rule=rule)
    if matcher.hopeless(prefix):
        assert not matcher((prefix + rest).strip())
    if matcher.settled(prefix):
        assert matcher((prefix + rest).strip()) == matcher(prefix.strip())
