"""Copular sentences opened by their fact: turned around, and the question they answer."""

from __future__ import annotations

import pytest

from slick_curator.probing.copular import turn_copular


@pytest.mark.parametrize(
    ("sentence", "fact", "prefix", "question"),
    [
        ("Poland is the country where Kaczewo is located.", "Poland",
         "The country where Kaczewo is located is",
         "What is the country where Kaczewo is located?"),
        ("United States Military Academy is where James Smith was educated.",
         "United States Military Academy", "The place where James Smith was educated is",
         "What is the place where James Smith was educated?"),
        ("1969 was when the band split up.", "1969", "The time when the band split up was",
         "What was the time when the band split up?"),
        ("Ada Lovelace is who wrote the first program.", "Ada Lovelace",
         "The person who wrote the first program is",
         "Who is the person who wrote the first program?"),
        ("The Eiffel Tower is what Gustave Eiffel is famous for.", "The Eiffel Tower",
         "The thing that Gustave Eiffel is famous for is",
         "What is the thing that Gustave Eiffel is famous for?"),
        ("Nairobi is the capital of Kenya, a country in East Africa.", "Nairobi",
         "The capital of Kenya is", "What is the capital of Kenya?"),
        ("The Beatles were a band from Liverpool!", "The Beatles", "A band from Liverpool were",
         "What were a band from Liverpool?"),
        ("Oslo was its capital (until 1900).", "Oslo", "Its capital was", "What was its capital?"),
    ],
)
def test_an_equative_sentence_is_turned_around_and_gives_the_question_its_fact_answers(
    sentence, fact, prefix, question
):
    turned = turn_copular(sentence, len(fact))
    assert (turned.prefix, turned.question) == (prefix, question)


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
    assert turn_copular(sentence, len(fact)) is None
