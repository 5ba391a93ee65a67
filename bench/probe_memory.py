"""Memory of a probe job in the worker: the job code a worker runs (`jobs.execute.run_job`),
on a generated EntityQuestions JSONL, with the scripted fake engine (so the figures are the
job's own, not a model's), peak resident set from /proc. The job reads the parsed rows an
upload stores (written first, in a child process, as the service's upload reader does);
`--from-file` makes it re-read the JSONL instead (a dataset stored without parsed rows).

    .venv/bin/python bench/probe_memory.py --rows 200000
    PYTHONPATH=/work/old/service:/work/old/client .venv/bin/python bench/probe_memory.py  # a
        # checkout of an older release, for a before/after in one session

Prints one JSON line: rows, shards, wall seconds, peak RSS (MB) after loading the dataset and
at the end, and the annotated file's size.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from million_rows import generate  # noqa: E402


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_parsed_rows(writer_class, scan_dataset, data: Path, folder: Path) -> None:
    with writer_class(folder) as writer:
        scan = scan_dataset(data)
        for chunk in scan.chunks():
            writer.add(chunk)
        writer.finish(scan.format, scan.kind, scan.columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shard-size", type=int, default=32)
    parser.add_argument("--from-file", action="store_true",
                        help="the worker re-reads the JSONL (a dataset stored without parsed "
                             "rows) instead of the parsed rows an upload stores")
    args = parser.parse_args()

    from slick_curator.engines.fake import FakeEngine
    from slick_curator.executors.base import LocalExecutor
    from slick_curator.jobs.execute import load_dataset, run_job
    from slick_curator.jobs.messages import DatasetSource, JobSpec

    parsed_kw = {}
    try:  # the upload's parsed rows, as the service stores them (a release that has them)
        from slick_curator.probing.parsed import ParsedWriter
        from slick_curator.probing.reading import scan_dataset
    except ImportError:
        ParsedWriter = None

    with tempfile.TemporaryDirectory(prefix="slick-probe-memory-") as tmp:
        work = Path(tmp)
        data = work / "rows.jsonl"
        generate(data, args.rows)
        if ParsedWriter is not None and not args.from_file:
            # What an upload writes, in another process (as the service does), so this
            # process's peak is the job's.
            child = multiprocessing.get_context("fork").Process(
                target=write_parsed_rows, args=(ParsedWriter, scan_dataset, data,
                                                work / "parsed"))
            child.start()
            child.join()
            parsed_kw = {"parsed": str(work / "parsed")}
        source = DatasetSource(path=str(data), format="jsonl", name="rows.jsonl", columns={},
                               max_text_chars=None, **parsed_kw)
        job = JobSpec(id="pr_bench", dataset=source, exemplars=None,
                      params={"n_prompts": 2, "k_shot": 2, "n_samples": 2, "mode": "full"},
                      shard_size=args.shard_size, job_dir=str(work / "job"), model="fake",
                      dataset_id="ds_bench")
        after_parse = peak_mb()  # generating the file
        start = time.perf_counter()
        # What reading alone costs (the job reads it again), the way the worker reads it.
        lazy = "lazy" in inspect.signature(load_dataset).parameters
        load_dataset(source, **({"lazy": True} if lazy else {}))
        after_load = peak_mb()
        finished = run_job(LocalExecutor(FakeEngine()), job, report=lambda message: None,
                           cancelled=lambda: False, parent_alive=lambda: True)
        wall = time.perf_counter() - start
        result = work / "job" / "result.parquet"
        print(json.dumps({
            "rows": args.rows, "shards": -(-args.rows // args.shard_size),
            "status": finished.status, "wall_s": round(wall, 1),
            "source": "parsed" if parsed_kw else "file",
            "peak_rss_after_generate_mb": round(after_parse),
            "peak_rss_after_load_mb": round(after_load), "peak_rss_mb": round(peak_mb()),
            "result_mb": round(result.stat().st_size / 2**20, 1),
        }))


if __name__ == "__main__":
    main()
