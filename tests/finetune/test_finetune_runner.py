"""The run orchestration without a model: finished variants are never trained again (resume
after a restart), and the report files come from the variants' predictions."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from finetune_helpers import eval_file, training_file
from slick_curator.curation import AnnotatedFile
from slick_curator.finetune import FinetuneParams, FinetuneSpec, build_plan, run_finetune
from slick_curator.finetune import runner as runner_module
from slick_curator.finetune.evaluate import Scorer, prediction_table
from slick_curator.finetune.process import CONTEXT

VARIANTS = ["original", "filter", "relabel"]


def finished_variant(spec: FinetuneSpec, variant: str) -> None:
    folder = spec.out_dir / "variants" / variant
    folder.mkdir(parents=True)
    answers = [row.answers[0] if i % 2 else "I don't know." for i, row in
               enumerate(spec.plan.eval)]
    tables = [prediction_table(variant, checkpoint, 1, spec.plan.eval, answers,
                               Scorer(("I don't know.",))) for checkpoint in
              ("convergence", "early_stop")]
    pq.write_table(pa.concat_tables(tables), folder / "predictions.parquet")
    curve = [{"epoch": e, "steps": e, "train_loss": None, "train_fit_known": None,
              "train_fit_unknown": None, "dev_accuracy": None, "dev_abstention": None}
             for e in (0, 1)]
    outcome = {"variant": variant, "train_rows": len(spec.plan.variants[variant]),
               "epochs": 1, "steps": 1, "best_epoch": 1, "train_seconds": 0.0,
               "weight_change": 1.0, "curve": curve}
    (folder / "outcome.json").write_text(json.dumps(outcome))


def test_trained_variants_are_kept_and_the_report_is_written(tmp_path, monkeypatch):
    train, evaluation = (AnnotatedFile.read(f(tmp_path)) for f in (training_file, eval_file))
    params = FinetuneParams(epochs=2, batch_size=4, bootstrap=100)
    plan = build_plan(train, evaluation, params, VARIANTS)
    spec = FinetuneSpec(out_dir=tmp_path / "out", plan=plan, params=params, variants=VARIANTS,
                        model_path="unused")
    for variant in VARIANTS:
        finished_variant(spec, variant)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished variant was trained again")

    monkeypatch.setattr(runner_module, "run_in_process", no_training)
    progress = []
    report = run_finetune(spec, cancel=CONTEXT.Event(), report=progress.append)
    assert [v.variant for v in report.variants] == VARIANTS
    assert all(v.convergence.overall.abstention.value == pytest.approx(0.5)
               for v in report.variants)
    last = progress[-1]
    assert (last.stage, last.variants_done, last.done) == ("done", 3, last.total)
    assert last.total == sum(-(-len(plan.variants[v]) // 4) * 2 for v in VARIANTS)
    assert last.rate is None  # nothing was trained in this run: no rate to report
    for name in ("report.json", "report.html", "predictions.parquet"):
        assert (spec.out_dir / name).is_file()
    assert pq.read_table(spec.out_dir / "predictions.parquet").num_rows == 3 * 2 * len(plan.eval)
    assert not list(spec.out_dir.glob(".*.tmp"))
