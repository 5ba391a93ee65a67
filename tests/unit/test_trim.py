"""The trim rule on its own: which sentences go, when the rest stands alone, the joined text
and the facts re-based onto it."""

from __future__ import annotations

import pytest
from slick_curator.curation.trim import trim_answer


def parts(sentences, facts, joiner=" "):
    """(answer, sentence dicts, fact dicts) with facts at their first occurrence."""
    answer = joiner.join(sentences)
    spans, at = [], 0
    for s in sentences:
        spans.append({"start": at, "end": at + len(s)})
        at += len(s) + len(joiner)
    found = []
    for text, sentence in facts:
        start = answer.index(text)
        found.append({"text": text, "start": start, "end": start + len(text),
                      "sentence": sentence, "category": "HighlyKnown"})
    return answer, spans, found


KENYA = ["The capital of Kenya is Nairobi.", "Its largest port is Mombasa.",
         "Kenya became independent in 1963."]
KENYA_FACTS = [("Nairobi", 0), ("Mombasa", 1), ("1963", 2)]


def test_drops_only_the_sentences_with_unknown_facts():
    answer, spans, facts = parts(KENYA, KENYA_FACTS)
    cut = trim_answer(answer, spans, facts, [False, False, True])
    assert cut.text == "The capital of Kenya is Nairobi. Its largest port is Mombasa."
    assert cut.dropped == (2,) and cut.reason == "sentences with unknown facts dropped [1 of 3]"


def test_a_sentence_opening_with_a_pronoun_after_a_cut_makes_the_row_untrimmable():
    answer, spans, facts = parts(KENYA, KENYA_FACTS)
    cut = trim_answer(answer, spans, facts, [True, False, False])
    assert cut.text is None
    assert cut.reason == "a kept sentence refers back to a dropped one [Its]"


@pytest.mark.parametrize("opening", ["However, it", "Also the", "This city", "They say",
                                     "In addition, the", "The latter"])
def test_connectives_and_demonstratives_after_a_cut_also_refer_back(opening):
    answer, spans, facts = parts(["Bergen lies on the west coast.", f"{opening} port is Oslo."],
                                 [("Bergen", 0), ("Oslo", 1)])
    assert trim_answer(answer, spans, facts, [True, False]).text is None


def test_a_pronoun_after_a_kept_sentence_is_fine_and_a_name_after_a_cut_is_fine():
    sentences = ["Oslo is the capital of Norway.", "It lies on a fjord.",
                 "Bergen has 285,000 people.", "Trondheim was the old capital."]
    answer, spans, facts = parts(sentences, [("Oslo", 0), ("285,000", 2), ("Trondheim", 3)])
    cut = trim_answer(answer, spans, facts, [False, True, False])
    assert cut.text == "Oslo is the capital of Norway. It lies on a fjord. Trondheim was the old " \
                       "capital."
    # A sentence that opens with a name stands alone after a cut; "it" deeper in it is not
    # read (a documented limit of the rule).
    answer, spans, facts = parts(["Paris is in France.", "Italy borders it."],
                                 [("Paris", 0), ("Italy", 1)])
    assert trim_answer(answer, spans, facts, [True, False]).text == "Italy borders it."


def test_nothing_left_means_no_trim():
    answer, spans, facts = parts(["Bergen is big.", "Oslo is bigger."],
                                 [("Bergen", 0), ("Oslo", 1)])
    cut = trim_answer(answer, spans, facts, [True, True])
    assert cut.text is None and cut.reason == "no sentence would be left"


def test_a_fact_straddling_two_sentences_drops_both():
    answer, spans, facts = parts(["Ann met Dr.", "Who in 1990.", "Oslo is cold."],
                                 [("Dr. Who", -1), ("Oslo", 2)])
    cut = trim_answer(answer, spans, facts, [True, False])
    assert cut.text == "Oslo is cold." and cut.dropped == (0, 1)


def test_a_paragraph_break_survives_the_cut():
    answer, spans, facts = parts(["Oslo is the capital.", "Bergen is wet.", "Trondheim is old."],
                                 [("Oslo", 0), ("Bergen", 1), ("Trondheim", 2)], joiner="\n\n")
    cut = trim_answer(answer, spans, facts, [False, True, False])
    assert cut.text == "Oslo is the capital.\n\nTrondheim is old."


def test_offsets_that_do_not_fit_the_answer_are_refused():
    answer, spans, facts = parts(KENYA, KENYA_FACTS)
    cut = trim_answer("Something else entirely, long enough to hold the offsets." * 2, spans,
                      facts, [False, False, True])
    assert cut.text is None and "does not match" in cut.reason
    assert trim_answer(answer, [], facts, [False, False, True]).text is None


def test_rebased_facts_index_the_trimmed_text():
    answer, spans, facts = parts(["Bergen is wet.", "Oslo is the capital of Norway.",
                                  "Trondheim is old."],
                                 [("Bergen", 0), ("Oslo", 1), ("Norway", 1), ("Trondheim", 2)])
    cut = trim_answer(answer, spans, facts, [True, False, False, False])
    new_facts, new_sentences = cut.rebase(facts, spans)
    assert cut.text == "Oslo is the capital of Norway. Trondheim is old."
    assert [(f["text"], f["sentence"]) for f in new_facts] == [("Oslo", 0), ("Norway", 0),
                                                               ("Trondheim", 1)]
    assert all(cut.text[f["start"]:f["end"]] == f["text"] for f in new_facts)
    assert [cut.text[s["start"]:s["end"]] for s in new_sentences] == [
        "Oslo is the capital of Norway.", "Trondheim is old."]
