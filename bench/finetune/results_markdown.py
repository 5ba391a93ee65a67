"""The Markdown of a fine-tune benchmark's results file, from a `slick finetune` report.json.

`header` (date, machine, command, the steps run) and `results` (metrics with intervals at
both checkpoints, the findings, accuracy per category, learning curves) are shared; each
benchmark writes its own setup section between them.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from steps import ROOT, Log


def pct(interval: dict | None) -> str:
    """A metric in percent with its 95% interval, or – when there is none."""
    if not interval or interval.get("value") is None:
        return "–"
    text = f"{100 * interval['value']:.1f}"
    if interval.get("low") is not None:
        text += f" [{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"
    return text


def header(title: str, report: dict, command: str, log: Log) -> list[str]:
    import torch

    lines = [
        f"# {title}",
        "",
        f"Run on {dt.date.today().isoformat()} (UTC "
        f"{dt.datetime.now(dt.UTC).strftime('%H:%M')}), CPU only: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with "
        f"other work), torch {torch.__version__}, model {report['model']}.",
        "",
        "Command (from the repository root):",
        "",
        "```",
        f".venv/bin/{command}" if command.startswith("python ") else command,
        "```",
        "",
        "Steps it ran (seconds; skipped steps were reused from an earlier run):",
        "",
    ]
    return lines + ([f"- `{shown}` — {seconds:.0f} s" for shown, seconds in log]
                    or ["- (all reused)"])


def training_line(report: dict) -> str:
    """The fine-tune settings, the dev split and the evaluation, in one paragraph."""
    p = report["params"]
    return (f"Fine-tuning: {p['method']} (r={p['lora_r']}, alpha={p['lora_alpha']}, all linear "
            f"layers), lr {p['learning_rate']}, batch {p['batch_size']}, {p['epochs']} epochs, "
            f"seed {p['seed']}; dev split {report['dev_rows']} rows (10% per relation, held out "
            f"of every variant); {report['excluded_rows']} training rows left out for sharing a "
            f"subject with a test question. Evaluation: greedy answers to "
            f"{report['eval_rows']} test questions, zero-shot in the training format; "
            f"{p['bootstrap']} bootstrap resamples.")


def results(report: dict, work: Path) -> list[str]:
    lines = ["## Results", ""]
    for checkpoint, title in (("convergence", "At convergence (last epoch)"),
                              ("early_stop", "At early stopping (best dev epoch)")):
        lines += [f"### {title}", "",
                  "| variant | train rows | epoch | accuracy % | hallucination % | "
                  "abstention % | precision % | wrong answers vs original % |",
                  "|---|---|---|---|---|---|---|---|"]
        for v in report["variants"]:
            c = v[checkpoint]
            m = c["overall"]
            lines.append(f"| {v['variant']} | {v['train_rows']} | {c['epoch']} | "
                         f"{pct(m['accuracy'])} | {pct(m['hallucination'])} | "
                         f"{pct(m['abstention'])} | {pct(m['precision'])} | "
                         f"{pct(c['wrong_change'])} |")
        lines.append("")
    lines += ["### Findings (paired bootstrap 95% intervals of the difference)", ""]
    lines += [f"- {f}" for f in report["findings"]]
    lines += ["", "### Accuracy at convergence per category of the test question", "",
              "| variant | " + " | ".join(report["eval_categories"]) + " |",
              "|---|" + "---|" * len(report["eval_categories"])]
    for v in report["variants"]:
        cells = [pct(v["convergence"]["by_category"].get(c, {}).get("accuracy"))
                 for c in report["eval_categories"]]
        lines.append(f"| {v['variant']} | " + " | ".join(cells) + " |")
    lines += ["", "### Learning curves (train fit known / unknown, dev accuracy; %)", ""]
    for v in report["variants"]:
        points = "; ".join(
            f"{e['epoch']}: {_p(e['train_fit_known'])}/{_p(e['train_fit_unknown'])}/"
            f"{_p(e['dev_accuracy'])}" for e in v["curve"])
        trimmed = f", {v['trimmed_rows']} trimmed" if v.get("trimmed_rows") else ""
        lines.append(f"- {v['variant']} ({v['train_rows']} rows, {v['relabelled_rows']} "
                     f"relabelled{trimmed}, best epoch {v['best_epoch']}, "
                     f"{v['train_seconds']:.0f} s): {points}")
    lines += ["", "The full report (HTML with the learning-curve plots) is "
              f"`{(work / 'finetune' / 'report.html').relative_to(ROOT)}` after a run.", ""]
    return lines


def _p(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}"
