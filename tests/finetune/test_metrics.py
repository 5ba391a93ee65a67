"""Judging answers, the metrics with bootstrap intervals, paired comparisons, and the report
built from predictions (no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from slick_curator.finetune import FinetuneParams, FinetunePlan, FinetuneSpec
from slick_curator.finetune.data import EvalRow, TrainRow
from slick_curator.finetune.evaluate import Scorer, difference, metrics, prediction_table
from slick_curator.finetune.report import build_report, render_html

ROWS = [EvalRow(row=i, question=f"Q{i}?", answers=(f"A{i}", f"Alias{i}"), group="g",
                category=("HighlyKnown", "Unknown")[i % 2]) for i in range(8)]
SCORER = Scorer(("I don't know.", "No idea"))


def test_scorer_judges_abstention_before_correctness():
    assert SCORER("a1", ["A1", "x"]) == (True, False)
    assert SCORER("The Alias1.", ["A1", "Alias1"]) == (True, False)  # aliases, normalised
    assert SCORER("i don't know", ["A1"]) == (False, True)
    assert SCORER("No idea.", ["A1"]) == (False, True)
    assert SCORER("  ", ["A1"]) == (False, True)  # an empty answer answers nothing
    assert SCORER("B", ["A1"]) == (False, False)  # answered and wrong: a hallucination
    assert Scorer((), "contains")("It is A1 of course", ["A1"]) == (True, False)


def test_metrics_count_and_intervals():
    correct = [True, True, False, False, False, True]
    abstained = [False, False, True, True, False, False]
    m = metrics(correct, abstained, resamples=500, seed=1)
    assert (m.n, m.correct, m.answered, m.abstained, m.hallucinated) == (6, 3, 4, 2, 1)
    assert m.accuracy.value == pytest.approx(0.5)
    assert m.hallucination.value == pytest.approx(1 / 6)
    assert m.abstention.value == pytest.approx(1 / 3)
    assert m.precision.value == pytest.approx(0.75)
    for name in ("accuracy", "hallucination", "abstention", "precision"):
        interval = getattr(m, name)
        assert 0 <= interval.low <= interval.value <= interval.high <= 1
    assert metrics(correct, abstained, resamples=500, seed=1) == m  # seeded
    none = metrics([False, False], [True, True], resamples=100)
    assert none.precision.value is None and none.abstention.value == 1.0
    assert metrics([True], [False], resamples=0).accuracy.low is None


def table(variant: str, answers: list[str], checkpoint: str = "convergence") -> pa.Table:
    return prediction_table(variant, checkpoint, 1, ROWS, answers, SCORER)


ORIGINAL = ["A0", "B", "A2", "B", "A4", "B", "x", "B"]  # 3 right, 5 wrong
FILTERED = ["A0", "B", "A2", "B", "A4", "A5", "x", "No idea"]  # 4 right, 3 wrong
RELABEL = ["A0", "I don't know.", "A2", "I don't know.", "A4", "I don't know.", "x",
           "I don't know."]  # 3 right, 1 wrong, 4 abstained


def test_paired_differences_and_the_wrong_answer_change():
    base, ours = table("original", ORIGINAL), table("relabel", RELABEL)
    assert difference(base, base, "accuracy", resamples=200).model_dump() == {
        "value": 0.0, "low": 0.0, "high": 0.0}
    precision = difference(ours, base, "precision", resamples=500)
    assert precision.value == pytest.approx(3 / 4 - 3 / 8)
    change = difference(ours, base, "wrong_change", resamples=500)
    assert change.value == pytest.approx((1 - 5) / 5)
    assert change.low <= change.value <= change.high
    # Rows are matched by evaluation row, whatever their order in the table.
    shuffled = base.take(pa.array(np.random.default_rng(0).permutation(len(ROWS))))
    assert difference(ours, shuffled, "wrong_change", resamples=500) == change


def spec(tmp_path: Path) -> FinetuneSpec:
    train = [TrainRow(row=0, question="Q", target="A", answers=("A",), group="g",
                      category="HighlyKnown", known=True)]
    plan = FinetunePlan(variants={"original": train, "filter": train, "relabel": train},
                        dev=ROWS[:1], eval=ROWS, prompt_format="plain", match="exact",
                        k_shot=4, excluded=0, model="smollm2-135m", source="train.jsonl")
    return FinetuneSpec(out_dir=tmp_path, plan=plan, params=FinetuneParams(bootstrap=300),
                        variants=["original", "filter", "relabel"], model_path="unused",
                        finetune_id="ft_0123456789abcdef")


def outcome(variant: str) -> dict:
    curve = [{"epoch": e, "steps": 2 * e, "train_loss": None if e == 0 else 1.0 / e,
              "train_fit_known": 0.5 + e / 10, "train_fit_unknown": e / 10,
              "dev_accuracy": 0.2 + e / 20, "dev_abstention": 0.0} for e in range(4)]
    return {"variant": variant, "train_rows": 1, "relabelled_rows": 0,
            "train_categories": {"HighlyKnown": 1}, "epochs": 3, "steps": 6, "best_epoch": 2,
            "train_seconds": 1.5, "weight_change": 0.25, "curve": curve}


def test_report_is_computed_from_predictions_and_states_the_findings(tmp_path):
    parts = []
    for variant, answers in (("original", ORIGINAL), ("filter", FILTERED),
                             ("relabel", RELABEL)):
        for checkpoint in ("early_stop", "convergence"):
            parts.append(table(variant, answers, checkpoint))
    report = build_report(spec(tmp_path), {v: outcome(v) for v in
                                           ("original", "filter", "relabel")},
                          pa.concat_tables(parts))
    by_name = {v.variant: v for v in report.variants}
    assert by_name["filter"].convergence.overall.accuracy.value == pytest.approx(4 / 8)
    assert by_name["relabel"].convergence.overall.precision.value == pytest.approx(3 / 4)
    assert by_name["relabel"].convergence.by_category["Unknown"].abstention.value == 1.0
    assert by_name["original"].convergence.wrong_change is None
    assert by_name["relabel"].early_stop.wrong_change.value == pytest.approx(-0.8)
    assert report.eval_categories == {"HighlyKnown": 4, "Unknown": 4}
    assert len(report.comparisons) == 2 * 2 * 4  # 2 variants x 2 checkpoints x 4 metrics
    convergence = [f for f in report.findings if f.startswith("convergence")]
    assert convergence[0].startswith("convergence: filter ≥ original accuracy holds "
                                     "(accuracy 0.500 vs 0.375, difference +0.125")
    assert "relabel raises precision on answered questions holds (precision 0.750 vs 0.375" \
        in convergence[1]

    html = render_html(report)
    assert html.count('data-chart="curve-') == 3
    assert 'data-chart="metrics-early-stop"' in html and 'data-chart="metrics-convergence"' in html
    assert 'data-series="train_fit_unknown"' in html
    assert "<script" not in html
    assert "filter ≥ original accuracy holds" in html
