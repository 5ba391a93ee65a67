"""The sentence judge: answers of a model trained on free-form answers (no model)."""

from __future__ import annotations

from slick_curator.finetune.data import EvalRow, TrainRow
from slick_curator.finetune.evaluate import Scorer, prediction_table
from slick_curator.finetune.sentence_judge import (
    SentenceJudge,
    answers_in_sentences,
    first_sentence,
    states,
)

JUDGE = SentenceJudge(("I don't know.",))
CAPITAL = "What is the capital of Kenya?"
ZARQA = "What is the capital of Zarqa Governorate?"


def test_a_sentence_that_states_the_gold_is_correct():
    assert JUDGE("The capital of Kenya is Nairobi.", ["Nairobi"], CAPITAL) == (True, False)
    assert JUDGE("Nairobi is the capital of Kenya.", ["nairobi"], CAPITAL) == (True, False)
    assert JUDGE("Nairobi", ["Nairobi"], CAPITAL) == (True, False)  # a bare answer too
    assert JUDGE("The capital of Kenya is Mombasa.", ["Nairobi"], CAPITAL) == (False, False)


def test_words_copied_from_the_question_do_not_state_the_gold():
    assert JUDGE("The capital of Zarqa Governorate is Amman.", ["Zarqa"], ZARQA) == (
        False, False)
    assert JUDGE("The capital of Zarqa Governorate is Zarqa.", ["Zarqa"], ZARQA) == (
        True, False)
    assert states("Zarqa Governorate", "Zarqa") and not states("Zarqa Governorate", "Zarqa",
                                                               ZARQA)


def test_only_the_first_sentence_answers():
    answer = "Paris is in France. Berlin is in Germany."
    question = "Which country is Berlin located in?"
    assert first_sentence(answer) == "Paris is in France."
    assert JUDGE(answer, ["Germany"], question) == (False, False)
    # An abbreviation does not end the sentence: the gold is still in the first one.
    assert JUDGE("The capital is Washington, D.C. and it is big.", ["Washington, D.C."],
                 "What is the capital of United States of America?") == (True, False)
    assert not states("Nairobian food", "Nairobi")  # whole words only


def test_abstentions_in_the_first_sentence_or_whole():
    assert JUDGE("I don't know.", ["Nairobi"], CAPITAL) == (False, True)
    assert JUDGE("I don't know. Nairobi.", ["Nairobi"], CAPITAL) == (False, True)
    assert JUDGE("  ", ["Nairobi"], CAPITAL) == (False, True)


def test_a_free_form_gold_is_stated_by_its_first_facts():
    gold = "The capital of Kenya is Nairobi. Lyon is in France."
    assert JUDGE.parts(gold, CAPITAL) == ("Nairobi",)
    assert JUDGE("Nairobi is the capital of Kenya.", [gold], CAPITAL) == (True, False)
    assert JUDGE("The capital of Kenya is Lyon.", [gold], CAPITAL) == (False, False)


def _train(answer: str) -> TrainRow:
    return TrainRow(row=0, question="Q?", target=answer, answers=(answer,), group="g",
                    category="Unknown", known=False)


def test_sentences_are_chosen_by_most_training_answers():
    assert answers_in_sentences([_train("Nairobi is the capital of Kenya."),
                                 _train("The capital of Peru is Lima."), _train("Lima")])
    assert not answers_in_sentences([_train("Nairobi"), _train("Lima"),
                                     _train("The capital of Peru is Lima.")])
    assert not answers_in_sentences([])


def test_scorer_routes_to_the_sentence_judge_with_the_question():
    rows = [EvalRow(row=0, question=ZARQA, answers=("Zarqa",), group="P36", category=None),
            EvalRow(row=1, question=CAPITAL, answers=("Nairobi",), group="P36", category=None)]
    answers = ["The capital of Zarqa Governorate is Amman.", "Nairobi is the capital of Kenya."]
    table = prediction_table("original", "convergence", 1, rows, answers,
                             Scorer(("I don't know.",), "exact", sentences=True))
    assert table.column("correct").to_pylist() == [False, True]
    assert table.column("hallucinated").to_pylist() == [True, False]
    # Without it, exact match judges the whole answer: a sentence never matches.
    assert Scorer(("I don't know.",))(answers[1], ["Nairobi"], CAPITAL) == (False, False)


def test_the_run_judges_in_sentences_only_when_it_trains_on_free_form_answers(tmp_path):
    from dataclasses import replace

    from finetune_helpers import eval_file, training_file
    from slick_curator.curation import AnnotatedFile
    from slick_curator.finetune import FinetuneParams, FinetuneSpec, build_plan

    train, evaluation = (AnnotatedFile.read(f(tmp_path)) for f in (training_file, eval_file))
    params = FinetuneParams(bootstrap=0)
    plan = build_plan(train, evaluation, params, ["original"])
    spec = FinetuneSpec(out_dir=tmp_path, plan=plan, params=params, variants=["original"],
                        model_path="unused")
    assert not spec.job("original").sentences  # short answers: the probe's match mode
    spec.plan.exemplars = [replace(r, answers=(f"The capital is {r.answers[0]}.",))
                           for r in plan.exemplars]
    assert spec.job("original").sentences
