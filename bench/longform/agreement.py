"""Do fact-level categories agree with the paper's QA-level ones? One command, dated figures.

    .venv/bin/python bench/longform/agreement.py                  # 6 relations x 25 rows
    .venv/bin/python bench/longform/agreement.py --rows-per-relation 5 --relations P36

Long-form EntityQuestions (make_data.py): test-split chat rows whose answers are 1-3 template
sentences, each carrying one gold. On the same model and seed:

* **QA level** (the paper's protocol): every carried (question, gold) as a QA row, plain
  ``Q:/A:`` prompts, 4 exemplars from the relation's dev QA rows, exact match;
* **fact level**: the long-form rows, exemplar turns from the relation's dev long-form rows,
  every fact of the answer probed at its position (`--prompt-format`, `--fact-match`).

Each gold is compared with the fact found at its offsets (a fact overlapping the gold span
counts; a gold that is no fact -- missed by the extractor, or copied from the question -- is
counted apart). Known = HighlyKnown, MaybeKnown or WeaklyKnown. Writes the agreement, the
4-way agreement, the confusion table and breakdowns to stdout and, with `--write`, appends a
dated section to bench/longform/RESULTS.md. `--retest` probes the QA rows again with seed+1
(the QA level's agreement with itself: the ceiling); `--dump` writes every compared gold with
both levels' greedy answers as JSONL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import platform
import resource
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_data  # noqa: E402

CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")
RELATIONS = ("P36", "P17", "P19", "P131", "P69", "P264")


def jsonl_dataset(rows: list[dict], name: str):
    from slick_curator.probing.reading import read_dataset

    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return read_dataset(io.BytesIO(data), name=name)


def probe(engine, dataset, exemplars, params) -> list[dict]:
    from slick_curator.probing.pipeline import ProbeRun

    run = ProbeRun(dataset, params, exemplars=exemplars, shard_size=64)
    tables = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    return run.annotate(tables, {}).to_pylist()


def fact_for(gold: dict, facts: list[dict] | None) -> dict | None:
    """The fact at the gold's offsets: exact span first, else the first overlapping one."""
    facts = facts or []
    for fact in facts:
        if (fact["start"], fact["end"]) == (gold["start"], gold["end"]):
            return fact
    for fact in facts:
        if fact["start"] < gold["end"] and gold["start"] < fact["end"]:
            return fact
    return None


def compare(long_rows: list[dict], long_out: list[dict], qa_out: list[dict],
            retest_out: list[dict] | None = None) -> dict:
    qa = {r["id"]: r["slick_category"] for r in qa_out}
    retest = {r["id"]: r["slick_category"] for r in retest_out or []}
    qa_answers = {r["id"]: r["slick_greedy_answers"] for r in qa_out}
    pairs, missing = [], Counter()
    for source, result in zip(long_rows, long_out, strict=True):
        for gold in source["golds"]:
            fact = fact_for(gold, result["slick_facts"])
            where = "opening" if gold["start"] == 0 else "inner"
            if fact is None:
                missing["asked" if gold["asked"] else "not asked"] += 1
                continue
            pairs.append({
                "qa": qa[gold["qa_id"]],
                "fact": fact["category"],
                "kind": source["kind"],
                "asked": gold["asked"],
                "where": where,
                "relation": source["relation"],
                "question": gold["question"],
                "gold": gold["answer"],
                "answer": source["messages"][1]["content"],
                "qa_greedy": qa_answers[gold["qa_id"]],
                "fact_greedy": fact["greedy_answers"],
                "qa_retest": retest.get(gold["qa_id"]),
            })
    return {"pairs": pairs, "missing": missing}


def agreement(pairs: list[dict]) -> tuple[float, float, int]:
    if not pairs:
        return float("nan"), float("nan"), 0
    binary = sum((p["qa"] == "Unknown") == (p["fact"] == "Unknown") for p in pairs)
    four = sum(p["qa"] == p["fact"] for p in pairs)
    return binary / len(pairs), four / len(pairs), len(pairs)


def report(result: dict, args, seconds: dict, extractor: str) -> str:
    pairs = result["pairs"]
    binary, four, n = agreement(pairs)
    lines = [
        f"## {dt.date.today().isoformat()}: {', '.join(args.relations)}, "
        f"{args.rows_per_relation} long-form rows per relation",
        "",
        f"Command: `.venv/bin/python bench/longform/agreement.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{_cpu_name()}; SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised), seed {args.seed}, "
        f"mode {args.mode}; fact level: prompt format {args.prompt_format}, "
        f"fact match {args.fact_match}, facts by {extractor}.  ",
        f"Time: QA level {seconds['qa']:.0f} s, fact level {seconds['fact']:.0f} s; peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GB.",
        "",
        f"**Known-vs-Unknown agreement: {binary:.1%}** of {n} golds probed as facts; "
        f"4-way agreement: {four:.1%}.  ",
        f"Golds that were no fact (not probed): {sum(result['missing'].values())} "
        f"({dict(result['missing'])}).",
        "",
    ]
    if pairs and pairs[0]["qa_retest"] is not None:
        again = [{"qa": p["qa"], "fact": p["qa_retest"]} for p in pairs]
        b, f, _ = agreement(again)
        lines += [
            f"The ceiling -- the QA level against itself, probed again with seed "
            f"{args.seed + 1} (other exemplars, other samples), on the same golds: "
            f"Known-vs-Unknown {b:.1%}, 4-way {f:.1%}.",
            "",
        ]
    lines += [
        "Confusion (rows: QA level, columns: fact level):",
        "",
        "| QA \\ fact | " + " | ".join(CATEGORIES) + " | total |",
        "|---|" + "---:|" * (len(CATEGORIES) + 1),
    ]
    table = Counter((p["qa"], p["fact"]) for p in pairs)
    for qa in CATEGORIES:
        counts = [table[qa, f] for f in CATEGORIES]
        lines.append(f"| {qa} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    lines += ["", "| subset | golds | Known-vs-Unknown | 4-way |", "|---|---:|---:|---:|"]
    subsets = [
        ("single-sentence rows", lambda p: p["kind"] == "single"),
        ("joined rows", lambda p: p["kind"] == "joined"),
        ("gold asked by the user turn", lambda p: p["asked"]),
        ("gold not asked (another sentence's fact)", lambda p: not p["asked"]),
        ("fact opens the answer", lambda p: p["where"] == "opening"),
        ("fact inside the answer", lambda p: p["where"] == "inner"),
    ]
    subsets += [(r, lambda p, r=r: p["relation"] == r) for r in args.relations]
    for name, keep in subsets:
        b, f, k = agreement([p for p in pairs if keep(p)])
        if k:
            lines.append(f"| {name} | {k} | {b:.1%} | {f:.1%} |")
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relations", nargs="+", default=list(RELATIONS))
    parser.add_argument("--rows-per-relation", type=int, default=25)
    parser.add_argument("--exemplar-rows", type=int, default=40,
                        help="dev rows per relation the exemplars are drawn from")
    parser.add_argument("--mode", default="adaptive", choices=("adaptive", "full", "fast", "exact"))
    parser.add_argument("--prompt-format", default="chat", choices=("plain", "chat"))
    parser.add_argument("--fact-match", default="position", choices=("position", "sentence"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="append to RESULTS.md")
    parser.add_argument("--retest", action="store_true",
                        help="also probe the QA rows with seed+1: the QA level's own agreement")
    parser.add_argument("--dump", type=Path,
                        help="write every compared gold (categories, greedy answers) as JSONL")
    args = parser.parse_args(argv)

    from slick_curator.engines import create_engine
    from slick_curator.probing.params import ProbeParams
    from slick_curator.weights import resolve_model

    long_rows = make_data.make_rows("test", args.relations, args.rows_per_relation, 0.5, args.seed)
    dev_long = make_data.make_rows("dev", args.relations, args.exemplar_rows, 0.5, args.seed)
    qa_rows = make_data.qa_rows(long_rows)
    dev_qa = make_data.qa_rows(dev_long)
    engine = create_engine("transformers", model=resolve_model("smollm2-135m"), seed=args.seed)
    seconds = {}
    try:
        start = time.perf_counter()
        qa_params = ProbeParams(mode=args.mode, seed=args.seed, answer_kind="short")
        qa_dataset = jsonl_dataset(qa_rows, "qa.jsonl")
        qa_exemplars = jsonl_dataset(dev_qa, "dev_qa.jsonl")
        qa_out = probe(engine, qa_dataset, qa_exemplars, qa_params)
        seconds["qa"] = time.perf_counter() - start
        retest_out = None
        if args.retest:
            retest_params = ProbeParams(mode=args.mode, seed=args.seed + 1, answer_kind="short")
            retest_out = probe(engine, qa_dataset, qa_exemplars, retest_params)
        start = time.perf_counter()
        fact_params = ProbeParams(mode=args.mode, seed=args.seed, answer_kind="long",
                                  prompt_format=args.prompt_format, fact_match=args.fact_match)
        long_out = probe(engine, jsonl_dataset(long_rows, "long.jsonl"),
                         jsonl_dataset(dev_long, "dev_long.jsonl"), fact_params)
        seconds["fact"] = time.perf_counter() - start
    finally:
        engine.close()
    from slick_curator.probing.facts import FactExtractor

    compared = compare(long_rows, long_out, qa_out, retest_out)
    if args.dump:
        args.dump.write_text("".join(json.dumps(p) + "\n" for p in compared["pairs"]))
    text = report(compared, args, seconds, FactExtractor().describe())
    print(text)
    if args.write:
        with open(HERE / "RESULTS.md", "a") as out:
            out.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
