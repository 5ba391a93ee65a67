"""The comparison report: every number computed from the per-example predictions, as data
(`build_report`, served as report.json) and as one self-contained HTML page (`render_html`,
the probe report's style: inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from importlib import resources
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import Environment, PackageLoader, select_autoescape
from slick_client.schemas import (
    CATEGORIES,
    CHECKPOINTS,
    ComparisonPublic,
    EpochPoint,
    FinetuneReportPublic,
    VariantReport,
)

from slick_curator._version import __version__
from slick_curator.finetune import charts
from slick_curator.finetune.evaluate import checkpoint_metrics, difference

if TYPE_CHECKING:
    from slick_curator.finetune.spec import FinetuneSpec

__all__ = ["CSP", "METRICS", "build_report", "render_html"]

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")
METRICS = ("accuracy", "hallucination", "abstention", "precision")


def _select(predictions: pa.Table, variant: str, checkpoint: str) -> pa.Table:
    mask = pc.and_(pc.equal(predictions["variant"], variant),
                   pc.equal(predictions["checkpoint"], checkpoint))
    return predictions.filter(mask)


def build_report(spec: FinetuneSpec, outcomes: dict[str, dict[str, Any]],
                 predictions: pa.Table) -> FinetuneReportPublic:
    """The report of a finished run; metrics are recomputed from `predictions`."""
    params = spec.params
    knobs = {"resamples": params.bootstrap, "seed": params.seed}
    baseline = "original" if "original" in spec.variants else None
    variants, comparisons = [], []
    for name in spec.variants:
        outcome = outcomes[name]
        checkpoints = {}
        for checkpoint in CHECKPOINTS:
            table = _select(predictions, name, checkpoint)
            base = (_select(predictions, baseline, checkpoint)
                    if baseline and name != baseline else None)
            checkpoints[checkpoint] = checkpoint_metrics(table, baseline=base, **knobs)
            if base is not None:
                comparisons += [ComparisonPublic(
                    variant=name, baseline=baseline, checkpoint=checkpoint, metric=metric,
                    difference=difference(table, base, metric, **knobs)) for metric in METRICS]
        variants.append(VariantReport(
            variant=name, train_rows=outcome["train_rows"],
            relabelled_rows=outcome.get("relabelled_rows", 0),
            train_categories=outcome.get("train_categories", {}), epochs=outcome["epochs"],
            steps=outcome["steps"], best_epoch=outcome["best_epoch"],
            train_seconds=outcome["train_seconds"], weight_change=outcome["weight_change"],
            curve=[EpochPoint(**p) for p in outcome["curve"]],
            early_stop=checkpoints["early_stop"], convergence=checkpoints["convergence"]))
    plan = spec.plan
    categories = Counter(r.category or "unprobed" for r in plan.eval)
    report = FinetuneReportPublic(
        finetune_id=spec.finetune_id, probe_id=spec.probe_id,
        model=spec.model or plan.model, source=plan.source, eval_source=plan.eval_source,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), params=params,
        prompt_format=plan.prompt_format, eval_rows=len(plan.eval),
        eval_categories={c: categories[c] for c in (*CATEGORIES, "unprobed") if categories[c]},
        dev_rows=len(plan.dev), excluded_rows=plan.excluded, variants=variants,
        comparisons=comparisons)
    report.findings = findings(report)
    return report


def _signed(v: float | None) -> str:
    return "–" if v is None else f"{v:+.3f}"


def _find(report: FinetuneReportPublic, variant: str, checkpoint: str,
          metric: str) -> ComparisonPublic | None:
    return next((c for c in report.comparisons if c.variant == variant
                 and c.checkpoint == checkpoint and c.metric == metric), None)


def findings(report: FinetuneReportPublic) -> list[str]:
    """The paper's two claims checked on this run, in words, whatever the outcome."""
    by_name = {v.variant: v for v in report.variants}
    out = []
    claims = (("filter", "accuracy", "filter ≥ original accuracy", lambda d: d >= 0),
              ("relabel", "precision", "relabel raises precision on answered questions",
               lambda d: d > 0))
    for checkpoint in CHECKPOINTS:
        for variant, metric, claim, holds in claims:
            comparison = _find(report, variant, checkpoint, metric)
            if comparison is None or comparison.difference.value is None:
                continue
            d = comparison.difference
            ours = getattr(getattr(by_name[variant], checkpoint).overall, metric).value
            theirs = getattr(getattr(by_name["original"], checkpoint).overall, metric).value
            interval = ("" if d.low is None else
                        f", 95% CI {_signed(d.low)} to {_signed(d.high)}")
            clear = d.low is not None and (d.low > 0 or d.high < 0)
            verdict = "holds" if holds(d.value) else "does not hold"
            strength = ("the interval excludes 0" if clear else
                        "the interval includes 0" if d.low is not None else "no interval")
            out.append(f"{checkpoint.replace('_', ' ')}: {claim} {verdict} ({metric} "
                       f"{ours:.3f} vs {theirs:.3f}, difference {_signed(d.value)}{interval}; "
                       f"{strength})")
    return out


_env = Environment(loader=PackageLoader("slick_curator.finetune", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f}%"
_env.filters["signed"] = lambda v: "–" if v is None else f"{100 * v:+.1f}"


def _css() -> str:
    """The probe report's stylesheet, so both reports look alike."""
    try:
        return (resources.files("slick_curator.reporting") / "templates" / "report.css").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - report not installed
        return "body { font: 15px/1.5 system-ui, sans-serif; margin: 24px; }"


def render_html(report: FinetuneReportPublic) -> str:
    """The HTML page of `report`."""
    curves = {v.variant: charts.learning_curve(
        f"curve-{v.variant}", v.curve, best_epoch=v.best_epoch,
        label=f"Learning curve of {v.variant}") for v in report.variants}
    bars = {checkpoint: charts.metric_bars(
        f"metrics-{checkpoint.replace('_', '-')}",
        [charts.Group(v.variant, {m: getattr(getattr(v, checkpoint).overall, m)
                                  for m in METRICS}) for v in report.variants],
        METRICS, label=f"Metrics per variant at {checkpoint.replace('_', ' ')}")
        for checkpoint in CHECKPOINTS}
    return _env.get_template("finetune.html.jinja").render(
        r=report, curves=curves, bars=bars, css=_css(), csp=CSP, metrics=METRICS,
        checkpoints=CHECKPOINTS, categories=[*CATEGORIES, "unprobed"],
        series=charts.CURVE_SERIES, metric_colors=charts.METRIC_COLORS,
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
