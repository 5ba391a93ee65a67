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
import json
import os
import shlex
import sys
from pathlib import Path

from results_markdown import header, results, training_line
from steps import sample, slick, write_jsonl

HERE = Path(__file__).resolve().parent


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
                  "--seed", str(args.seed), "--mode", "adaptive",  # as recorded
                  "--no-progress", log=log)
    out = work / "finetune"
    if not (out / "report.json").exists():
        slick("finetune", str(work / "train.annotated.parquet"), "--eval",
              str(work / "test.annotated.parquet"), "-o", str(out), "--epochs",
              str(args.epochs), "--lr", str(args.lr), "--batch-size", str(args.batch_size),
              "--seed", str(args.seed), log=log)
    command = " ".join(["python"] + [shlex.quote(a) for a in sys.argv])
    write_results(args, json.loads((out / "report.json").read_text()), log, command)
    print(f"wrote {args.results}")


def write_results(args, report: dict, log, command: str) -> None:
    lines = header("Fine-tune-and-verify benchmark", report, command, log)
    lines += [
        "",
        "## Setup",
        "",
        f"EntityQuestions relations {args.relations}, {args.per_relation} single-answer "
        f"training rows and {args.per_relation} test rows per relation; exemplars for the probe "
        "from the dev split. Both sets probed in adaptive mode (the paper's categories: 10 "
        "few-shot prompts, greedy + 16 samples each).",
        training_line(report),
        "",
        "Test questions by category (of the base model): " + ", ".join(
            f"{c} {n}" for c, n in report["eval_categories"].items()) + ".",
        "",
    ]
    lines += results(report, args.work)
    args.results.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
