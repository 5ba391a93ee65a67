"""Fine-tune-and-verify benchmark: does the paper's direction show on SmolLM2-135M?

One command, from the repository root:

    .venv/bin/python bench/finetune/run.py

1. Samples EntityQuestions (../shared/data/entityquestions) as the SliCK study did: relations
   from its training set, single-answer rows only; `--per-relation` training rows and as many
   test rows per relation, and the dev split of the same relations as the exemplar pool.
2. Probes both with `slick probe` (adaptive mode: the paper's categories; exemplars from dev).
3. Runs `slick finetune` with original, filter and relabel (training rows sharing a subject
   with a test question are left out by the plan, as in the study).
4. Writes RESULTS.md beside this file from the report: metrics with bootstrap 95% intervals at
   early stopping and convergence, per category, the learning curves, and the two findings.

Every step's output lands in `--work` (default bench/finetune/work, not versioned) and is
reused when it exists, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"
HERE = Path(__file__).resolve().parent


def sample(split: str, relations: list[str], n: int, seed: int) -> list[dict]:
    rows = []
    for relation in relations:
        data = json.loads((DATA / split / f"{relation}.{split}.json").read_text())
        data = [d for d in data if len(d["answers"]) == 1]  # as the study did
        random.Random(f"{seed}:{split}:{relation}").shuffle(data)
        rows += [{"question": d["question"], "answers": d["answers"], "relation": relation}
                 for d in data[:n]]
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def slick(*args: str, log: list[tuple[str, float]]) -> None:
    command = [str(ROOT / ".venv" / "bin" / "slick"), *args]
    shown = " ".join(shlex.quote(a.replace(f"{ROOT}/", "")) for a in ["slick", *args])
    print(f"$ {shown}", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True)
    log.append((shown, time.monotonic() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relations", default="P17,P36,P495")
    parser.add_argument("--per-relation", type=int, default=80)
    parser.add_argument("--exemplars-per-relation", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    relations = args.relations.split(",")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    train = write_jsonl(work / "train.jsonl", sample("train", relations, args.per_relation,
                                                     args.seed))
    test = write_jsonl(work / "test.jsonl", sample("test", relations, args.per_relation,
                                                   args.seed))
    dev = write_jsonl(work / "dev.jsonl", sample("dev", relations, args.exemplars_per_relation,
                                                 args.seed))
    log: list[tuple[str, float]] = []
    for name, source in (("train", train), ("test", test)):
        target = work / f"{name}.annotated.parquet"
        if not target.exists():
            slick("probe", str(source), "--exemplars", str(dev), "-o", str(target),
                  "--seed", str(args.seed), "--no-progress", log=log)
    out = work / "finetune"
    if not (out / "report.json").exists():
        slick("finetune", str(work / "train.annotated.parquet"), "--eval",
              str(work / "test.annotated.parquet"), "-o", str(out), "--epochs",
              str(args.epochs), "--lr", str(args.lr), "--batch-size", str(args.batch_size),
              "--seed", str(args.seed), log=log)
    command = " ".join(["python"] + [shlex.quote(a) for a in sys.argv])
    write_results(args, json.loads((out / "report.json").read_text()), log, command)
    print(f"wrote {args.results}")


def pct(interval: dict | None) -> str:
    if not interval or interval.get("value") is None:
        return "–"
    text = f"{100 * interval['value']:.1f}"
    if interval.get("low") is not None:
        text += f" [{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"
    return text


def write_results(args, report: dict, log: list[tuple[str, float]], command: str) -> None:
    import torch

    lines = [
        "# Fine-tune-and-verify benchmark",
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
    lines += [f"- `{shown}` — {seconds:.0f} s" for shown, seconds in log] or ["- (all reused)"]
    p = report["params"]
    lines += [
        "",
        "## Setup",
        "",
        f"EntityQuestions relations {args.relations}, {args.per_relation} single-answer "
        f"training rows and {args.per_relation} test rows per relation; exemplars for the probe "
        "from the dev split. Both sets probed in adaptive mode (the paper's categories: 10 "
        "few-shot prompts, greedy + 16 samples each).",
        f"Fine-tuning: {p['method']} (r={p['lora_r']}, alpha={p['lora_alpha']}, all linear "
        f"layers), lr {p['learning_rate']}, batch {p['batch_size']}, {p['epochs']} epochs, "
        f"seed {p['seed']}; dev split {report['dev_rows']} rows (10% per relation, held out of "
        f"every variant); {report['excluded_rows']} training rows left out for sharing a "
        f"subject with a test question. Evaluation: greedy answers to {report['eval_rows']} "
        f"test questions, zero-shot in the training format; "
        f"{p['bootstrap']} bootstrap resamples.",
        "",
        "Test questions by category (of the base model): " + ", ".join(
            f"{c} {n}" for c, n in report["eval_categories"].items()) + ".",
        "",
        "## Results",
        "",
    ]
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
        lines.append(f"- {v['variant']} ({v['train_rows']} rows, {v['relabelled_rows']} "
                     f"relabelled, best epoch {v['best_epoch']}, {v['train_seconds']:.0f} s): "
                     f"{points}")
    lines += ["", "The full report (HTML with the learning-curve plots) is "
              f"`{(args.work / 'finetune' / 'report.html').relative_to(ROOT)}` after a run.", ""]
    args.results.write_text("\n".join(lines))


def _p(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}"


if __name__ == "__main__":
    main()
