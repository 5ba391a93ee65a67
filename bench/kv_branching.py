"""KV branching: adaptive probes with the decoder of another revision, with branches, without.

    .venv/bin/python bench/kv_branching.py --before 44db798

Two workloads on SmolLM2-135M, adaptive mode, the default protocol (10 prompts x 4 shots,
16 samples at T 0.5 top-k 40): `--qa-rows` P36 test rows as QA (plain prompts, exemplars from
P36 dev), and `--fact-rows` long-form rows of `--relations` (bench/longform/make_data.py,
chat prompts, exemplar turns from long-form dev rows). Contenders share one process and one
loaded model, and take turns (`--rounds` times), so machine load hits them alike:
  before       `PrefixDecoder` of revision `--before` (read with git show)
  branches     this tree's decoder (cluster prefixes and KV branches)
  no-branches  this tree's decoder with branching off (cluster prefixes only)
Every contender must give identical slick_* columns; the script fails if one does not.
Printed: per workload and contender, the median wall and CPU seconds, prefill and decode
tokens and forward calls, and each contender's wall-time ratio to `before`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"
sys.path.insert(0, str(ROOT / "bench" / "longform"))

import make_data  # noqa: E402


def old_decoder_class(revision: str):
    """`PrefixDecoder` as revision `revision` wrote it, loaded from git."""
    source = subprocess.run(
        ["git", "show", f"{revision}:service/slick_curator/engines/hf_decoding.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "hf_decoding_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("hf_decoding_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.PrefixDecoder


def jsonl(rows: list[dict], name: str):
    from slick_curator.probing.reading import read_dataset

    return read_dataset(io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode()),
                        name=name)


def workloads(args):
    from slick_curator.probing.params import ProbeParams
    from slick_curator.probing.reading import read_dataset

    qa = (read_dataset(DATA / "test" / "P36.test.json", limit=args.qa_rows),
          read_dataset(DATA / "dev" / "P36.dev.json"),
          ProbeParams(mode="adaptive", seed=0))
    long_rows = make_data.make_rows("test", args.relations, args.fact_rows, 0.5, 0)
    dev_long = make_data.make_rows("dev", args.relations, 40, 0.5, 0)
    facts = (jsonl(long_rows, "long.jsonl"), jsonl(dev_long, "dev_long.jsonl"),
             ProbeParams(mode="adaptive", seed=0, answer_kind="long", prompt_format="chat"))
    return {"qa": qa, "facts": facts}


def run_once(engine, decoder, workload) -> dict:
    from slick_curator.probing.pipeline import ProbeRun

    dataset, exemplars, params = workload
    engine.decoder = decoder
    before = dict(vars(decoder.stats))
    run = ProbeRun(dataset, params, exemplars=exemplars, shard_size=64)
    wall, cpu = time.perf_counter(), time.process_time()
    tables = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    table = run.annotate(tables, {})
    columns = {c: table.column(c).to_pylist() for c in table.column_names
               if c.startswith("slick_")}
    spent = {k: v - before.get(k, 0) for k, v in vars(decoder.stats).items()}
    return {"wall": wall, "cpu": cpu, "stats": spent, "columns": columns}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--before", default="HEAD", help="git revision of the old decoder")
    parser.add_argument("--qa-rows", type=int, default=20)
    parser.add_argument("--fact-rows", type=int, default=4, help="long-form rows per relation")
    parser.add_argument("--relations", nargs="+", default=["P36", "P17"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args()

    import torch
    from slick_curator.engines import create_engine
    from slick_curator.engines.hf_decoding import PrefixDecoder
    from slick_curator.weights import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = create_engine("transformers", model=resolve_model("smollm2-135m"), seed=0)
    Before = old_decoder_class(args.before)
    parts = (engine.model, engine.tokenizer, engine.decoder.eos_ids)
    contenders = {
        "before": Before(*parts),
        "branches": PrefixDecoder(*parts),
        "no-branches": PrefixDecoder(*parts, branch_tokens=None),
    }
    print(f"# KV branching, {dt.date.today()}, before = {args.before}, "
          f"torch threads {torch.get_num_threads()}", flush=True)
    failed = False
    for name, workload in workloads(args).items():
        results: dict[str, list[dict]] = {c: [] for c in contenders}
        for _ in range(args.rounds):
            for contender, decoder in contenders.items():
                results[contender].append(run_once(engine, decoder, workload))
                print(f"  {name} {contender}: {results[contender][-1]['wall']:.1f} s",
                      flush=True)
        reference = results["before"][0]["columns"]
        base = statistics.median(r["wall"] for r in results["before"])
        print(f"\n{name}: {len(reference['slick_category'])} rows")
        print("| contender | wall s (median) | CPU s | prefill tokens | decode tokens | "
              "forward calls | branch-saved tokens | wall vs before | same results |")
        print("|---|---|---|---|---|---|---|---|---|")
        for contender, runs in results.items():
            same = all(r["columns"] == reference for r in runs)
            failed |= not same
            wall = statistics.median(r["wall"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            s = runs[0]["stats"]
            print(f"| {contender} | {wall:.1f} | {cpu:.1f} | {s['prefill_tokens']} | "
                  f"{s['decode_tokens']} | {s['forward_calls']} | "
                  f"{s.get('branch_shared_tokens', '-')} | {wall / base:.2f} | {same} |")
        print(flush=True)
    engine.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
