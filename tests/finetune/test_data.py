"""Training variants, the dev split and the evaluation set from annotated files (no model)."""

from __future__ import annotations

import pytest
from finetune_helpers import (
    EVAL_KNOWN,
    EVAL_UNKNOWN,
    KNOWN,
    UNKNOWN,
    annotated,
    eval_file,
    rows,
    training_file,
)
from slick_curator.curation import AnnotatedFile
from slick_curator.finetune import FinetuneParams, VariantError, build_plan
from slick_curator.finetune.data import eval_rows, subject_of

VARIANTS = ["original", "filter", "relabel"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    return AnnotatedFile.read(training_file(folder)), AnnotatedFile.read(eval_file(folder))


def test_variants_are_keep_filter_and_relabel_of_the_same_rows(files):
    train, evaluation = files
    plan = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.0), VARIANTS)
    original, filtered, relabelled = (plan.variants[v] for v in VARIANTS)
    assert len(original) == len(KNOWN) + len(UNKNOWN) and plan.dev == []
    assert {r.category for r in original} == {"HighlyKnown", "Unknown"}
    assert [r.row for r in filtered] == [r.row for r in original if r.category != "Unknown"]
    assert [r.row for r in relabelled] == [r.row for r in original]
    for before, after in zip(original, relabelled, strict=True):
        if before.category == "Unknown":
            assert after.target == "I don't know." and after.relabelled and not after.known
            assert after.answers == before.answers  # gold kept for scoring
        else:
            assert after == before and before.target == before.answers[0]


def test_dev_split_is_per_group_seeded_and_held_out_of_every_variant(tmp_path):
    records = rows(KNOWN[:6], "P36") + rows(UNKNOWN[:4], "P17") + rows(KNOWN[6:], "P17")
    train = AnnotatedFile.read(annotated(tmp_path, "mixed", records, KNOWN))
    evaluation = AnnotatedFile.read(eval_file(tmp_path))
    params = FinetuneParams(dev_fraction=0.25, seed=3)
    plan = build_plan(train, evaluation, params, VARIANTS)
    by_group = {g: sum(r.group == g for r in plan.dev) for g in ("P36", "P17")}
    assert by_group == {"P36": 1, "P17": 2}  # int(0.25 * 6), int(0.25 * 8)
    dev_rows = {r.row for r in plan.dev}
    for variant in VARIANTS:
        assert dev_rows.isdisjoint(r.row for r in plan.variants[variant])
    assert build_plan(train, evaluation, params, VARIANTS).dev == plan.dev
    other = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.25, seed=4), VARIANTS)
    assert {r.row for r in other.dev} != dev_rows or len(dev_rows) == 0
    capped = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.5, dev_max=2), VARIANTS)
    assert len(capped.dev) == 2 and {r.group for r in capped.dev} == {"P36", "P17"}


def test_rows_sharing_a_question_or_subject_with_the_evaluation_set_are_left_out(tmp_path):
    records = rows(KNOWN[:6]) + [
        {"question": "Which country is Oslo located in?", "answers": ["Norway"],
         "relation": "P36"},  # subject Oslo: not in the evaluation set
        {"question": "Where is Norway located?", "answers": ["Europe"],
         "relation": "P36"},  # subject Norway (any template), asked about in the eval set
        {"question": "What is the capital of Ireland?", "answers": ["Dublin"],
         "relation": "P36"},  # the same question
    ]
    train = AnnotatedFile.read(annotated(tmp_path, "overlap", records, KNOWN))
    evaluation = AnnotatedFile.read(eval_file(tmp_path))
    plan = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.0), ["original"])
    questions = {r.question for r in plan.variants["original"]}
    assert plan.excluded == 2
    assert "Which country is Oslo located in?" in questions
    assert not questions & {"Where is Norway located?", "What is the capital of Ireland?"}


def test_subjects_come_from_entityquestions_templates_or_a_subject_column():
    assert subject_of("What is the capital of Marin County?", "P36") == "marin county"
    assert subject_of("Who is Ada Lovelace's child?") == "ada lovelace"
    assert subject_of("Where was The Beatles founded?", "P740") == "beatles"
    assert subject_of("Tell me something", subject="Mount Kenya") == "mount kenya"
    assert subject_of("Tell me something") is None


def test_an_empty_variant_is_an_error_naming_it(tmp_path):
    train = AnnotatedFile.read(annotated(tmp_path, "unknown", rows(UNKNOWN), known_pairs=[]))
    evaluation = AnnotatedFile.read(eval_file(tmp_path))
    with pytest.raises(VariantError, match="variant 'filter' has no training rows: all 6 "
                                           "training rows are Unknown") as caught:
        build_plan(train, evaluation, FinetuneParams(dev_fraction=0.0), ["original", "filter"])
    assert caught.value.variant == "filter"
    plan = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.0), ["relabel"])
    assert all(r.target == "I don't know." for r in plan.variants["relabel"])


def test_stricter_unknown_categories_and_phrase(files):
    train, evaluation = files
    params = FinetuneParams(dev_fraction=0.0, unknown=("Unknown", "HighlyKnown"),
                            abstention="No idea.")
    with pytest.raises(VariantError):
        build_plan(train, evaluation, params, ["filter"])
    plan = build_plan(train, evaluation, params, ["relabel"])
    assert {r.target for r in plan.variants["relabel"]} == {"No idea."}


def test_chat_rows_train_on_the_final_assistant_turn(tmp_path):
    records = [{"messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": f"What is the capital of {c}?"},
                             {"role": "assistant", "content": a}], "relation": "P36"}
               for c, a in KNOWN + UNKNOWN]
    train = AnnotatedFile.read(annotated(tmp_path, "chat", records, KNOWN))
    evaluation = AnnotatedFile.read(eval_file(tmp_path))
    plan = build_plan(train, evaluation, FinetuneParams(dev_fraction=0.0), VARIANTS)
    first = plan.variants["original"][0]
    assert (first.question, first.target) == ("What is the capital of France?", "Paris")


def test_evaluation_rows_carry_their_probed_category(files):
    _, evaluation = files
    found = eval_rows(evaluation)
    assert [r.category for r in found] == (["HighlyKnown"] * len(EVAL_KNOWN)
                                           + ["Unknown"] * len(EVAL_UNKNOWN))
    assert found[0].answers == ("Oslo",) and found[0].group == "P36"
