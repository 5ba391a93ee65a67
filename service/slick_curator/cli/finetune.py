"""`slick finetune annotated.parquet --eval test.json -o outdir/`: fine-tune and verify, locally.

Trains the probed model on each variant of the annotated training data (every variant in its
own process), evaluates on the held-out set and writes report.html, report.json and
predictions.parquet into OUTDIR. A plain evaluation file is probed first with the training
probe's parameters (exemplars from the evaluation file itself), so results break down by
category; an annotated Parquet is used as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from slick_curator.cli.curate import fail

_VARIANTS = ("original", "filter", "relabel", "trim")


def _params(options: dict[str, Any]):
    from pydantic import ValidationError
    from slick_client.schemas import FinetuneParams

    values = {k: v for k, v in options.items() if v is not None}
    if "abstention_phrases" in values:
        values["abstention_phrases"] = tuple(values["abstention_phrases"])
    if "unknown" in values:
        values["unknown"] = tuple(u.strip() for item in values["unknown"]
                                  for u in item.split(",") if u.strip()) or None
    try:
        return FinetuneParams(**{k: v for k, v in values.items() if v not in ((), None)})
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")


def _variants(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in names if v not in _VARIANTS]
    if bad or not names:
        fail(f"--variants: unknown variant {bad[0] if bad else value!r}; choose from "
             f"{', '.join(_VARIANTS)}")
    if len(set(names)) != len(names):
        fail("--variants: each variant once")
    return names


def _probe_eval(path: Path, train, model_path: str, model: str, device: str | None,
                out: Path, no_progress: bool):
    """Probe a plain evaluation file as the training data was probed; its annotated file."""
    import shutil

    from slick_curator.curation import AnnotatedFile
    from slick_curator.engines import create_engine
    from slick_curator.jobs.resumable import file_sha256, probe_resumable
    from slick_curator.probing.params import ProbeParams, resolve_mode
    from slick_curator.probing.pipeline import ProbeRun
    from slick_curator.probing.prompts import ExemplarError
    from slick_curator.probing.reading import ColumnMap, DatasetError, read_dataset
    from slick_curator.probing.schema import write_parquet

    recorded = train.metadata.get("params") or {}
    params = resolve_mode(ProbeParams(**{k: v for k, v in recorded.items()
                                          if k in ProbeParams.model_fields}), "transformers")
    try:
        data = read_dataset(path, on_error="skip", columns=ColumnMap())
        run = ProbeRun(data, params)
    except (DatasetError, ExemplarError) as exc:
        fail(f"--eval: {exc}")
    click.echo(f"probing {len(data.examples)} evaluation rows with {model} "
               f"({params.mode}, {params.n_prompts} prompts) …", err=True)
    with create_engine("transformers", model=model_path, device=device,
                       seed=params.seed) as engine:
        # Checkpointed as `slick probe` is: a killed run probes only what is left.
        folder = out / ".eval.slick-checkpoints"
        fingerprint = {"eval": file_sha256(path), "params": params.model_dump(mode="json"),
                       "model": model}
        shards = probe_resumable(run, engine, folder, fingerprint, seed=params.seed,
                                 disable_progress=no_progress)
        metadata = run.metadata(engine.info(), model=model, source=path.name)
    target = out / "eval.annotated.parquet"
    write_parquet(run.annotate(shards, metadata), target)
    shutil.rmtree(folder, ignore_errors=True)
    return AnnotatedFile.read(target)


@click.command()
@click.argument("annotated", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--eval", "eval_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Held-out questions: a dataset file (probed first) or an annotated Parquet.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Folder for report.html, report.json, predictions.parquet.")
@click.option("--variants", default="original,filter,relabel", show_default=True,
              help="Comma-separated: original, filter, relabel, trim (free-form answers "
                   "without their unknown sentences).")
@click.option("--model", default=None, help="Model to fine-tune. [the probe's model]")
@click.option("--device", default=None, help="Torch device (cpu, cuda). [auto]")
@click.option("--method", type=click.Choice(["lora", "full"]), default=None, help="[lora]")
@click.option("--trainable", type=click.Choice(["all", "attention", "mlp"]), default=None,
              help="Train only these weights, freeze the rest. [all]")
@click.option("--lora-r", type=int, default=None, help="[16]")
@click.option("--lora-alpha", type=float, default=None, help="[32]")
@click.option("--epochs", type=int, default=None, help="[3]")
@click.option("--max-steps", type=int, default=None, help="Stop after N optimizer steps.")
@click.option("--lr", "learning_rate", type=float, default=None, help="[2e-4]")
@click.option("--batch-size", type=int, default=None, help="[8]")
@click.option("--seed", type=int, default=None, help="[0]")
@click.option("--dev-fraction", type=float, default=None, help="Dev share per group. [0.1]")
@click.option("--patience", type=int, default=None,
              help="Stop after N epochs without a better dev accuracy. [off]")
@click.option("--kl-weight", type=float, default=None,
              help="Self-distillation: weight of KL(base || tuned). [0]")
@click.option("--unknown", multiple=True, metavar="CATEGORY",
              help="Categories filter drops / relabel relabels. [Unknown]")
@click.option("--min-known-share", type=float, default=None,
              help="Free-form rows count as known when at least this share of their facts "
                   "is. [every fact]")
@click.option("--abstention", default=None, help="Answer of relabelled rows. [I don't know.]")
@click.option("--abstention-phrase", "abstention_phrases", multiple=True,
              help="Another answer that counts as abstaining (repeatable).")
@click.option("--eval-prompt", type=click.Choice(["zero-shot", "few-shot"]), default=None,
              help="[zero-shot]")
@click.option("--max-new-tokens", type=int, default=None, help="[24]")
@click.option("--bootstrap", type=int, default=None, help="Resamples for intervals. [1000]")
@click.option("--save-checkpoints", is_flag=True, default=None,
              help="Keep the early-stop and convergence weights.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def finetune(annotated: Path, eval_path: Path, output: Path, variants: str, model: str | None,
             device: str | None, no_progress: bool, **options: Any) -> None:
    """Fine-tune on each variant of ANNOTATED and compare hallucination on held-out questions.

    Variants: original (every probed row), filter (drop Unknown), relabel (Unknown rows answer
    "I don't know."). Reports accuracy, hallucination, abstention and precision per variant,
    at the best dev epoch (early stopping) and the last (convergence), overall and per SliCK
    category, with bootstrap 95% intervals.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see finetune.process
    from slick_curator.curation import AnnotatedError, AnnotatedFile
    from slick_curator.finetune import (
        FinetuneSpec,
        RunCancelled,
        RunFailed,
        VariantError,
        build_plan,
        run_finetune,
    )
    from slick_curator.finetune.process import CONTEXT
    from slick_curator.probing.schema import METADATA_KEY
    from slick_curator.weights import ModelNotFoundError, resolve_model

    params = _params(options)
    names = _variants(variants)
    try:
        train = AnnotatedFile.read(annotated)
    except AnnotatedError as exc:
        fail(str(exc))
    model = model or train.metadata.get("model") or "smollm2-135m"
    try:
        model_path = resolve_model(model)
    except ModelNotFoundError as exc:
        fail(str(exc))
    output.mkdir(parents=True, exist_ok=True)

    import pyarrow.parquet as pq

    is_annotated = False
    if eval_path.suffix == ".parquet":
        is_annotated = METADATA_KEY in (pq.read_schema(eval_path).metadata or {})
    evaluation = (AnnotatedFile.read(eval_path) if is_annotated else
                  _probe_eval(eval_path, train, model_path, model, device, output, no_progress))
    try:
        plan = build_plan(train, evaluation, params, names)
    except VariantError as exc:
        fail(str(exc))
    sizes = ", ".join(f"{v} {len(rows)}" for v, rows in plan.variants.items())
    click.echo(f"training rows: {sizes}; dev {len(plan.dev)}; evaluation {len(plan.eval)}"
               f"{f'; {plan.excluded} left out (in the evaluation set)' if plan.excluded else ''}",
               err=True)
    spec = FinetuneSpec(out_dir=output, plan=plan, params=params, variants=names,
                        model_path=model_path, model=model, device=device)
    bar = _Bar(disabled=no_progress)
    try:
        report = run_finetune(spec, cancel=CONTEXT.Event(), report=bar.update)
    except RunCancelled:  # pragma: no cover - nothing cancels a local run
        fail("cancelled")
    except RunFailed as exc:
        bar.close()
        click.echo(f"error: training failed: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        bar.close()
        click.echo("interrupted; trained variants are kept in "
                   f"{output / 'variants'} and are not trained again", err=True)
        sys.exit(130)
    bar.close()
    _summary(report)
    click.echo(f"wrote {output / 'report.html'}, report.json and predictions.parquet", err=True)


class _Bar:
    """A tqdm bar over optimizer steps of all variants."""

    def __init__(self, *, disabled: bool) -> None:
        self.disabled = disabled
        self.bar = None

    def update(self, progress) -> None:
        if self.disabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=progress.total, unit="step", desc="fine-tuning",
                            dynamic_ncols=True)
        self.bar.n = progress.done
        self.bar.set_postfix_str(f"{progress.variant} epoch {progress.epoch} {progress.stage}",
                                 refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _summary(report) -> None:
    def pct(interval) -> str:
        return "–" if interval.value is None else f"{100 * interval.value:5.1f}%"

    click.echo(f"{'variant':<10} {'checkpoint':<12} {'epoch':>5} {'accuracy':>9} "
               f"{'halluc.':>8} {'abstain':>8} {'precision':>9}")
    for v in report.variants:
        for name in ("early_stop", "convergence"):
            c = getattr(v, name)
            m = c.overall
            click.echo(f"{v.variant:<10} {name:<12} {c.epoch:>5} {pct(m.accuracy):>9} "
                       f"{pct(m.hallucination):>8} {pct(m.abstention):>8} "
                       f"{pct(m.precision):>9}")
    for line in report.findings:
        click.echo(f"- {line}")
