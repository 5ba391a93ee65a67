"""The copular turn that lets a fact opening a sentence be probed where it is pinned down."""

from __future__ import annotations

import pytest

from slick_curator.probing.inversion import turned_prefix


@pytest.mark.parametrize(
    ("sentence", "fact", "turned"),
    [
        ("Poland is the country where Kaczewo is located.", "Poland",
         "The country where Kaczewo is located is"),
        ("United States Military Academy is where James Smith was educated.",
         "United States Military Academy", "The place where James Smith was educated is"),
        ("1969 was when the band split up.", "1969", "The time when the band split up was"),
        ("Ada Lovelace is who wrote the first program.", "Ada Lovelace",
         "The person who wrote the first program is"),
        ("The Eiffel Tower is what Gustave Eiffel is famous for.", "The Eiffel Tower",
         "The thing that Gustave Eiffel is famous for is"),
        ("Nairobi is the capital of Kenya, a country in East Africa.", "Nairobi",
         "The capital of Kenya is"),
        ("The Beatles were a band from Liverpool!", "The Beatles", "A band from Liverpool were"),
        ("Oslo was its capital (until 1900).", "Oslo", "Its capital was"),
    ],
)
def test_an_equative_sentence_is_turned_around_up_to_its_fact(sentence, fact, turned):
    assert turned_prefix(sentence, len(fact)) == turned


@pytest.mark.parametrize(
    ("sentence", "fact"),
    [
        ("Paris is beautiful.", "Paris"),  # an adjective says nothing back
        ("Paris is also home to the Louvre.", "Paris"),  # an adverb first
        ("Acme was founded by John Smith.", "Acme"),  # a passive, not an equation
        ("Oslo, the capital of Norway, is cold.", "Oslo"),  # no copula after the fact
        ("Oslo is the.", "Oslo"),  # a complement of one word
        ("Oslo is ...", "Oslo"),  # no complement at all
        ("Oslois the capital.", "Oslo"),  # the fact runs into the next word
        ("Oslo is", "Oslo"),
    ],
)
def test_other_sentences_are_left_as_they_stand(sentence, fact):
    assert turned_prefix(sentence, len(fact)) is None
