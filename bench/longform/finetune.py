"""Fine-tune on long-form answers, verify on short questions: does fact-level filtering help?

One command, from the repository root:

    .venv/bin/python bench/longform/finetune.py

The second half of issue 12's proof. Training data is long-form EntityQuestions (make_data.py,
train split, whose subjects never occur in the test split): chat rows whose answers are 1-3
template sentences, each stating one gold. Evaluation is the short-form EntityQuestions test
questions of the same relations -- the very rows bench/finetune/run.py evaluates on.

1. Writes the train long-form rows (`--per-relation` a relation), their exemplar pool (dev
   long-form rows), the test QA rows (`--test-per-relation`, sampled as bench/finetune does)
   and theirs (dev QA rows).
2. Probes the training rows fact by fact (`slick probe --answer-kind long`, plain prompts --
   the default, and the format that agrees best with the QA level in RESULTS.md: every fact
   at its position; a row's category is its least-known fact's) and the test rows
   the paper's way (`--answer-kind short`: whole answers, plain Q:/A: prompts, exact match).
3. `slick finetune` with the variants of the fact-level policies: `original` (every probed
   row), `filter` (drops the rows whose least-known fact is Unknown), `trim` (drops only the
   sentences whose facts are Unknown, when the rest stands on its own) and `relabel` (those
   rows answer "I don't know."). The tuned model answers in sentences, as it was trained to,
   so answers are judged by `slick_curator.finetune.sentence_judge`: correct when the first
   sentence states the gold more often than the question does; an abstention phrase in the
   first sentence abstains.
4. Writes FINETUNE.md beside this file: setup (facts and rows by category), metrics with
   bootstrap 95% intervals at early stopping and convergence, per test category, the
   learning curves, and a check of the judge against whole-answer `contains` matching.

Every step's output lands in `--work` (default bench/longform/work/finetune, not versioned)
and is reused when it exists, so an interrupted run continues where it stopped (`slick
finetune` itself skips the variants already trained).

Expected runtime with the defaults (216 training rows, 469 facts; 240 test questions; four
variants x 8 epochs) on this 2-core CPU when it is otherwise idle: about 2 h -- the fact-level
probe ~50 min (the tiny run below took 342 s for 19 facts at load 5, i.e. ~18 s a fact on
~0.7 core), the test probe ~6 min, the fine-tune ~60 min (bench/finetune took 36 min for three
short-form variants; answers here are 3-5x longer). Several times that while other work
shares the CPU. Tiny end-to-end check (~9 min under load):

    .venv/bin/python bench/longform/finetune.py --relations P17 --per-relation 8 \
        --test-per-relation 8 --epochs 1 --work bench/longform/work/ft-tiny \
        --results bench/longform/work/ft-tiny/FINETUNE.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "finetune")]

import make_data  # noqa: E402
from results_markdown import header, results, training_line  # noqa: E402
from steps import sample, slick, write_jsonl  # noqa: E402

CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relations", default="P17,P36,P495")
    parser.add_argument("--per-relation", type=int, default=72,
                        help="long-form training rows per relation")
    parser.add_argument("--test-per-relation", type=int, default=80)
    parser.add_argument("--exemplars-per-relation", type=int, default=40,
                        help="dev long-form rows per relation (the training probe's exemplars)")
    parser.add_argument("--qa-exemplars-per-relation", type=int, default=60,
                        help="dev QA rows per relation (the test probe's exemplars)")
    parser.add_argument("--joined-share", type=float, default=0.5)
    parser.add_argument("--variants", default="original,filter,trim,relabel")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=HERE / "work" / "finetune")
    parser.add_argument("--results", type=Path, default=HERE / "FINETUNE.md")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    relations = args.relations.split(",")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    _same_settings(work, args)
    seed = args.seed
    train = _write(work / "train-long.jsonl", make_data.make_rows(
        "train", relations, args.per_relation, args.joined_share, seed))
    _write(work / "dev-long.jsonl", make_data.make_rows(
        "dev", relations, args.exemplars_per_relation, args.joined_share, seed))
    write_jsonl(work / "test.jsonl", sample("test", relations, args.test_per_relation, seed))
    write_jsonl(work / "dev-qa.jsonl", sample("dev", relations, args.qa_exemplars_per_relation,
                                              seed))
    # Step times survive a resumed run, so the results show what every step cost.
    times = work / "steps.json"
    log = [tuple(x) for x in json.loads(times.read_text())] if times.exists() else []
    probes = {
        "train": ("train-long.jsonl", "dev-long.jsonl", ["--answer-kind", "long"]),
        "test": ("test.jsonl", "dev-qa.jsonl", ["--answer-kind", "short"]),
    }
    for name, (source, exemplars, options) in probes.items():
        target = work / f"{name}.annotated.parquet"
        if not target.exists():
            slick("probe", str(work / source), "--exemplars", str(work / exemplars), *options,
                  "-o", str(target), "--seed", str(seed), "--mode", "adaptive",  # as recorded
                  "--no-progress", log=log)
            times.write_text(json.dumps(log))
    out = work / "finetune"
    if not (out / "report.json").exists():
        slick("finetune", str(work / "train.annotated.parquet"), "--eval",
              str(work / "test.annotated.parquet"), "-o", str(out), "--variants",
              args.variants, "--epochs", str(args.epochs), "--lr", str(args.lr),
              "--batch-size", str(args.batch_size), "--seed", str(seed), "--no-progress",
              log=log)
        times.write_text(json.dumps(log))
    command = " ".join(["python"] + [shlex.quote(a) for a in sys.argv])
    report = json.loads((out / "report.json").read_text())
    args.work = work
    write_results(args, report, train, log, command)
    print(f"wrote {args.results}")


def _same_settings(work: Path, args) -> None:
    """Outputs are reused by name, so a work folder must only ever see one set of settings."""
    settings = {k: v for k, v in vars(args).items() if k not in ("work", "results")}
    path = work / "settings.json"
    if path.exists() and json.loads(path.read_text()) != settings:
        sys.exit(f"{work} holds a run with other settings ({path}); pass another --work")
    path.write_text(json.dumps(settings, indent=1))


def _write(path: Path, rows: list[dict]) -> list[dict]:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows


def training_counts(work: Path) -> dict[str, Counter]:
    """Training rows by status and least-known category, facts by category."""
    import pyarrow.parquet as pq

    table = pq.read_table(work / "train.annotated.parquet",
                          columns=["slick_status", "slick_category", "slick_facts"])
    counts = {"status": Counter(), "rows": Counter(), "facts": Counter()}
    for status, category, facts in zip(*(table.column(c).to_pylist()
                                         for c in table.column_names), strict=True):
        counts["status"][status] += 1
        if status == "probed":
            counts["rows"][category] += 1
        counts["facts"].update(f["category"] for f in facts or [] if f.get("category"))
    return counts


def judge_check(work: Path) -> dict[str, Counter]:
    """Per variant at convergence: answers whole-answer `contains` would accept that the
    sentence judge does not, by why (gold copied from the question, or in a later sentence)."""
    import pyarrow.parquet as pq
    from slick_curator.finetune.sentence_judge import first_sentence, states
    from slick_curator.probing.matching import Matcher

    rows = pq.read_table(work / "finetune" / "predictions.parquet").to_pylist()
    out: dict[str, Counter] = {}
    for r in rows:
        if r["checkpoint"] != "convergence":
            continue
        c = out.setdefault(r["variant"], Counter())
        c["answers"] += 1
        if r["correct"] or r["abstained"] or not Matcher(r["gold"], "contains")(r["prediction"]):
            continue
        first = first_sentence(r["prediction"])
        in_first = any(states(first, g) for g in r["gold"])
        c["copied from the question" if in_first else "in a later sentence"] += 1
    return out


def write_results(args, report: dict, train: list[dict], log, command: str) -> None:
    counts = training_counts(args.work)
    kinds = Counter(r["kind"] for r in train)
    golds = sum(len(r["golds"]) for r in train)
    status = ", ".join(f"{s} {n}" for s, n in counts["status"].most_common())
    lines = header("Fine-tune on long-form answers, verify on short questions", report,
                   command, log)
    lines += [
        "",
        "## Setup",
        "",
        f"Training: {len(train)} long-form EntityQuestions rows (make_data.py, train split, "
        f"relations {args.relations}, {args.per_relation} a relation; {kinds['single']} "
        f"single-sentence, {kinds['joined']} joining 2-3 sentences; {golds} golds), probed "
        f"fact by fact (adaptive mode, plain prompts, facts at their positions; exemplars from "
        f"{args.exemplars_per_relation} dev long-form rows a relation). Probe status: {status} "
        "(rows without a fact to probe -- the gold copied from the question -- are not "
        "trained on by any variant).",
        "",
        "| | " + " | ".join(CATEGORIES) + " |",
        "|---|" + "---:|" * len(CATEGORIES),
        "| facts | " + " | ".join(str(counts["facts"][c]) for c in CATEGORIES) + " |",
        "| rows (least-known fact) | " + " | ".join(str(counts["rows"][c]) for c in CATEGORIES)
        + " |",
        "",
        f"Test: {report['eval_rows']} short-form EntityQuestions test questions "
        f"({args.test_per_relation} a relation, the rows bench/finetune evaluates on), probed the "
        "paper's way (plain Q:/A: prompts, whole answers, exact match; exemplars from the dev "
        "split). By category (of the base model): " + ", ".join(
            f"{c} {n}" for c, n in report["eval_categories"].items()) + ".",
        "",
        "Variants: `original` every probed row; `filter` drops the rows whose least-known fact "
        "is Unknown; `trim` drops only the sentences whose facts are Unknown (the row when "
        "nothing known is left); `relabel` answers those rows \"I don't know.\".",
        training_line(report),
        "",
        "Judging: the tuned model answers in sentences (it was trained to), so exact match "
        "would fail every answer. An answer is correct when its first sentence states the gold "
        "(whole words, normalised) more often than the question does, an abstention when its "
        "first sentence is \"I don't know.\" (`slick_curator.finetune.sentence_judge`). The "
        "first sentence, because training answers state the asked fact first and go on about "
        "other subjects; more often than the question, because a restated subject would "
        "otherwise answer for the model (39 % of P36 test golds occur in their question, "
        "\"capital of Zarqa Governorate\" -> \"Zarqa\").",
        "",
    ]
    lines += results(report, args.work)
    check = judge_check(args.work)
    lines += ["### The judge against whole-answer `contains` (convergence)", "",
              "| variant | answers | contains accepts, judge rejects: copied from the question "
              "| …: gold only in a later sentence |", "|---|---:|---:|---:|"]
    lines += [f"| {v} | {c['answers']} | {c['copied from the question']} | "
              f"{c['in a later sentence']} |" for v, c in check.items()]
    lines.append("")
    args.results.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
