"""Exact mode against full mode: does exact's category distribution match the protocol's?

    .venv/bin/python bench/exact_calibration.py --rows 1000 --dtype bfloat16

The same rows (EntityQuestions test, the relations of `probe_speed.py`, exemplars from dev),
one engine, both modes in turn with the same seed. Full mode draws 16 samples per prompt;
exact mode computes each prompt's chance of a correct sample and from it P(WeaklyKnown).
Reported, and appended to bench/RESULTS.md with the date:
- greedy fields identical (answers and P_greedy), row by row;
- for rows whose greedy answers are all wrong (only there do samples decide): exact's
  predicted P(WeaklyKnown) in bins against the share of those rows full mode made
  WeaklyKnown, and predicted against observed counts with the binomial standard deviation;
- the category counts of full, of exact's drawn categories, and exact's expected counts;
- the largest mass exact left unexplored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from probe_speed import _cpu_name, workload  # noqa: E402

CATEGORIES = ["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
BINS = [0.0, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0000001]


def probe(engine, dataset, dev, mode: str, seed: int) -> tuple[list[dict], float]:
    import pyarrow as pa
    from slick_curator.probing.params import ProbeParams
    from slick_curator.probing.pipeline import ProbeRun

    run = ProbeRun(dataset, ProbeParams(mode=mode, seed=seed), exemplars=dev, shard_size=64)
    start = time.perf_counter()
    tables = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    seconds = time.perf_counter() - start
    return pa.concat_tables(tables).to_pylist(), seconds


def report(full: list[dict], exact: list[dict], seconds: dict, args) -> str:
    same_greedy = sum(f["slick_greedy_answers"] == e["slick_greedy_answers"]
                      and f["slick_p_greedy"] == e["slick_p_greedy"]
                      for f, e in zip(full, exact, strict=True))
    wrong = [(e["slick_category_probs"]["WeaklyKnown"], f["slick_category"] == "WeaklyKnown")
             for f, e in zip(full, exact, strict=True) if f["slick_p_greedy"] == 0]
    lines = [
        f"## {dt.date.today().isoformat()} — `python bench/exact_calibration.py "
        f"{' '.join(sys.argv[1:])}`",
        "",
        f"Rows: {len(full)} ({args.dtype}, seed {args.seed}); CPU: {_cpu_name()}. Full mode "
        f"{seconds['full']:.0f} s, exact mode {seconds['exact']:.0f} s.",
        f"Greedy fields (answers and P_greedy) identical on **{same_greedy} of {len(full)}** rows.",
        "",
        f"Rows whose greedy answers are all wrong: {len(wrong)}.",
        "",
        "| predicted P(WeaklyKnown) | rows | mean predicted | observed WeaklyKnown (full) | "
        "expected count | observed count | SD |",
        "|---|---|---|---|---|---|---|",
    ]
    total_p = total_obs = total_var = 0.0
    for lo, hi in zip(BINS, BINS[1:]):
        inside = [(p, o) for p, o in wrong if lo <= p < hi]
        if not inside:
            continue
        expected = sum(p for p, _ in inside)
        observed = sum(o for _, o in inside)
        var = sum(p * (1 - p) for p, _ in inside)
        total_p, total_obs, total_var = total_p + expected, total_obs + observed, total_var + var
        lines.append(f"| [{lo:.2f}, {min(hi, 1):.2f}) | {len(inside)} | "
                     f"{expected / len(inside):.3f} | {observed / len(inside):.3f} | "
                     f"{expected:.1f} | {observed} | {math.sqrt(var):.1f} |")
    z = (total_obs - total_p) / math.sqrt(total_var) if total_var else 0.0
    lines += [
        f"| all | {len(wrong)} | {total_p / max(len(wrong), 1):.3f} | "
        f"{total_obs / max(len(wrong), 1):.3f} | {total_p:.1f} | {total_obs:.0f} | "
        f"{math.sqrt(total_var):.1f} |",
        "",
        f"Observed minus expected WeaklyKnown: {total_obs - total_p:+.1f} ({z:+.2f} SD).",
        "",
        "| | " + " | ".join(CATEGORIES) + " |",
        "|---|" + "---|" * len(CATEGORIES),
        "| full | " + " | ".join(str(sum(r["slick_category"] == c for r in full))
                                 for c in CATEGORIES) + " |",
        "| exact (drawn) | " + " | ".join(str(sum(r["slick_category"] == c for r in exact))
                                         for c in CATEGORIES) + " |",
        "| exact (expected) | " + " | ".join(
            f"{sum(r['slick_category_probs'][c] for r in exact):.1f}" for c in CATEGORIES) + " |",
        "",
        f"Largest unexplored mass of a row: {max(r['slick_p_unexplored'] for r in exact):.2e}; "
        f"mean {sum(r['slick_p_unexplored'] for r in exact) / len(exact):.2e}.",
        "",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    from slick_curator.engines import create_engine
    from slick_curator.weights import resolve_model

    dataset, dev = workload(args.rows, args.seed)
    engine = create_engine("transformers", model=resolve_model("smollm2-135m"),
                           seed=args.seed, dtype=args.dtype)
    exact, exact_seconds = probe(engine, dataset, dev, "exact", args.seed)
    print(f"exact: {len(exact)} rows in {exact_seconds:.0f} s", file=sys.stderr, flush=True)
    full, full_seconds = probe(engine, dataset, dev, "full", args.seed)
    print(f"full: {len(full)} rows in {full_seconds:.0f} s", file=sys.stderr, flush=True)
    text = report(full, exact, {"full": full_seconds, "exact": exact_seconds}, args)
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(previous + text)
    print(text)


if __name__ == "__main__":
    main()
