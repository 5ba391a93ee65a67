"""Fine-tune variants from fact-level policies: `trim` trains free-form answers on their known
sentences, and `min_known_share` moves free-form rows between known and unknown (no model)."""

from __future__ import annotations

import pytest
from freeform_helpers import H, M, Row, U, W, annotated_table
from slick_client.schemas import FinetuneCreate
from slick_curator.curation import AnnotatedFile
from slick_curator.finetune import FinetuneParams, build_plan
from slick_curator.finetune.data import EvalRow

TRAIN = [
    Row("Tell me about Kenya.", ["The capital of Kenya is Nairobi.",
                                 "Kenya had 47,564,296 people in 2019."],
        [("Nairobi", H), ("47,564,296", U), ("2019", H)]),
    Row("Tell me about Ankara.", ["Ankara was made the capital in 1923.",
                                  "It is in Central Anatolia."],
        [("1923", U), ("Central Anatolia", H)]),
    Row("Tell me about Oslo.", ["Oslo is the capital of Norway."], [("Oslo", M)]),
    Row("Tell me about Perth.", ["Perth lies on the Swan River.", "Fremantle is its port."],
        [("Swan River", W), ("Fremantle", U)]),
    Row("Say hello.", ["Hello, nice to meet you!"], []),
]
EVAL = [EvalRow(row=0, question="What is the capital of Chile?", answers=("Santiago",),
                group="P36", category="HighlyKnown")]
NO_DEV = FinetuneParams(dev_fraction=0.0)


@pytest.fixture
def train():
    return AnnotatedFile.from_table(annotated_table(TRAIN))


def targets(plan, name):
    return {r.row: r.target for r in plan.variants[name]}


def test_trim_variant_trains_on_the_trimmed_answers(train):
    plan = build_plan(train, EVAL, NO_DEV, ["original", "filter", "trim"])
    # no_facts rows carry no category: they are in no variant.
    assert sorted(targets(plan, "original")) == [0, 1, 2, 3]
    assert targets(plan, "filter") == {2: "Oslo is the capital of Norway."}
    assert targets(plan, "trim") == {0: "The capital of Kenya is Nairobi.",
                                     2: "Oslo is the capital of Norway.",
                                     3: "Perth lies on the Swan River."}
    trimmed = {r.row: r for r in plan.variants["trim"]}
    assert trimmed[0].trimmed and trimmed[0].known and trimmed[0].category == "Unknown"
    assert trimmed[0].answers == (TRAIN[0].text,)  # gold kept for scoring
    assert not trimmed[2].trimmed


def test_min_known_share_decides_which_free_form_rows_count_as_known(train):
    params = FinetuneParams(dev_fraction=0.0, min_known_share=0.5)
    plan = build_plan(train, EVAL, params, ["filter", "relabel"])
    assert sorted(targets(plan, "filter")) == [0, 1, 2, 3]  # every share is >= 0.5
    strict = build_plan(train, EVAL, FinetuneParams(dev_fraction=0.0, min_known_share=0.6),
                        ["relabel"])
    assert [r.row for r in strict.variants["relabel"] if r.relabelled] == [1, 3]


def test_the_wire_schema_accepts_all_four_variants():
    body = FinetuneCreate(probe_id="p", eval_dataset_id="d",
                          variants=["original", "filter", "relabel", "trim"])
    assert body.variants[-1] == "trim"
    assert FinetuneCreate(probe_id="p", eval_dataset_id="d").variants == [
        "original", "filter", "relabel"]
