"""A million rows through a real `slick serve`: upload, validation, memory and latency.

    .venv/bin/python bench/million_rows.py                 # 1,000,000 rows, figures to stdout
    .venv/bin/python bench/million_rows.py --rows 100000   # a quicker look

Generates a JSONL of `--rows` EntityQuestions train rows (every relation, cycled; a cycled row
gets a copy number in its question so the questions stay distinct) and its gzip, starts
`slick serve` on loopback (engine `fake`: the upload path does not touch a model), then:
  1. uploads a small dataset and runs a probe job on it, to have a dataset and a job to poll;
  2. uploads the big JSONL as a raw body, then its gzip, then the same rows as one JSON list,
     while a second thread polls `GET /v1/datasets/{small}` and `GET /v1/probes/{job}` every
     20 ms (p50 / p99 / max), and samples the memory of the child process reading each;
  3. uploads one row more than the server's SLICK_MAX_ROWS: a 413, and the stored datasets
     still there;
  4. times `slick probe --limit 10` on the big file with the real default model (how soon
     probing starts, and the CLI's peak memory); `--cli-only` runs this step alone.
The server's memory is read from /proc (VmHWM, its peak resident set, and VmRSS sampled every
50 ms, alone and with its child processes: uploads over SLICK_UPLOAD_IN_PROCESS_BYTES are read
in one); Linux only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"
SLICK = Path(sys.executable).with_name("slick")


def generate(path: Path, rows: int) -> None:
    """`rows` QA rows from every train relation, cycled."""
    source = []
    for file in sorted((DATA / "train").glob("P*.train.json")):
        relation = file.name.split(".")[0]
        source += [(r["question"], r["answers"], relation) for r in json.loads(file.read_text())]
    with open(path, "w") as f:
        for i in range(rows):
            question, answers, relation = source[i % len(source)]
            copy = i // len(source)
            if copy:
                question = f"{question} (#{copy})"
            f.write(json.dumps({"id": f"r{i}", "question": question, "answers": answers,
                                "relation": relation}) + "\n")


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def descendants(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            out += [child, *descendants(child)]
    return out


class Sampler(threading.Thread):
    """Samples every 50 ms the resident set of the server, and of the server with its child
    processes (the upload reader, the probe worker) together."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.tree_peak_kb = pid, 0, 0
        self.existing = set(descendants(pid))  # the probe worker, there before any upload
        self.child_peak_kb: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            own = memory_kb(self.pid, "VmRSS")
            tree = own
            for child in descendants(self.pid):
                try:
                    rss = memory_kb(child, "VmRSS")
                except (OSError, KeyError):
                    continue  # it ended meanwhile
                tree += rss
                self.child_peak_kb[child] = max(self.child_peak_kb.get(child, 0), rss)
            self.peak_kb = max(self.peak_kb, own)
            self.tree_peak_kb = max(self.tree_peak_kb, tree)
            time.sleep(0.05)

    def peaks_mb(self, existing: bool) -> list[int]:
        return sorted(round(kb / 1024) for pid, kb in self.child_peak_kb.items()
                      if (pid in self.existing) == existing)


class Poller(threading.Thread):
    """GETs the status routes every 20 ms, recording each latency."""

    def __init__(self, base: str, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.base, self.paths, self.stop = base, paths, threading.Event()
        self.latencies: list[float] = []
        self.failures = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                for path in self.paths:
                    start = time.perf_counter()
                    ok = client.get(path).status_code == 200
                    self.latencies.append(time.perf_counter() - start)
                    self.failures += not ok
                time.sleep(0.02)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        if not lat:
            return {"requests": 0}
        return {"requests": len(lat), "failures": self.failures,
                "p50_ms": round(1000 * statistics.median(lat), 1),
                "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                "max_ms": round(1000 * lat[-1], 1)}


def upload(client: httpx.Client, path: Path, name: str, media: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()

    def body():
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    response = client.post("/v1/datasets", params={"name": name}, content=body(),
                           headers={"Content-Type": media}, timeout=3600)
    return response, time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cli-only", action="store_true",
                    help="only step 4 (no server): how soon `slick probe --limit` probes")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slick-million-"))
    figures: dict = {"date": dt.date.today().isoformat(), "rows": args.rows,
                     "machine": f"{platform.processor() or platform.machine()}, "
                                f"{os.cpu_count()} cores"}
    try:
        big = work / "big.jsonl"
        start = time.perf_counter()
        generate(big, args.rows)
        if args.cli_only:
            time_cli_limit(big, work, figures)
            print(json.dumps(figures, indent=2))
            return
        with open(big, "rb") as src, gzip.open(work / "big.jsonl.gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        with open(big) as src, open(work / "big.json", "w") as dst:  # the rows as one JSON list
            dst.write("[\n" + ",\n".join(line.rstrip("\n") for line in src) + "\n]\n")
        over = work / "over.jsonl"
        generate(over, args.rows + 1)
        figures["files_mb"] = {"jsonl": round(big.stat().st_size / 1e6, 1),
                               "gzip": round((work / "big.jsonl.gz").stat().st_size / 1e6, 1),
                               "json_list": round((work / "big.json").stat().st_size / 1e6, 1)}
        figures["generate_s"] = round(time.perf_counter() - start, 1)

        port = free_port()
        env = {**os.environ, "SLICK_DATA_DIR": str(work / "data"), "SLICK_ENGINE": "fake",
               "SLICK_MODEL": "fake", "SLICK_MAX_ROWS": str(args.rows), "SLICK_LOG_LEVEL":
               "WARNING"}
        server = subprocess.Popen([str(SLICK), "serve", "--port", str(port)], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            run(base, server.pid, work, big, over, figures)
        finally:
            server.terminate()
            server.wait(30)
        time_cli_limit(big, work, figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))


def run(base: str, pid: int, work: Path, big: Path, over: Path, figures: dict) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(300):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        small = work / "P36.small.jsonl"
        small.write_text("".join(json.dumps({"question": f"What is the capital of {c}?",
                                             "answer": c, "relation": "P36"}) + "\n"
                                 for c in ("Kenya", "Peru", "Chad", "Fiji", "Mali", "Oman")))
        small_id = upload(client, small, small.name, "application/x-ndjson")[0].json()["id"]
        job = client.post("/v1/probes", json={"dataset_id": small_id, "n_prompts": 2, "k_shot": 2,
                                             "n_samples": 2}).json()["id"]
        figures["server_rss_mb_idle"] = round(memory_kb(pid, "VmRSS") / 1024)

        sampler = Sampler(pid)
        sampler.start()
        for label, path, media in (("jsonl", big, "application/x-ndjson"),
                                   ("gzip", work / "big.jsonl.gz", "application/gzip"),
                                   ("json_list", work / "big.json", "application/json")):
            poller = Poller(base, [f"/v1/datasets/{small_id}", f"/v1/probes/{job}"])
            poller.start()
            readers_before = set(sampler.child_peak_kb)
            response, seconds = upload(client, path, path.name, media)
            poller.stop.set()
            poller.join()
            body = response.json()
            readers = [kb for child, kb in sampler.child_peak_kb.items()
                       if child not in readers_before and child not in sampler.existing]
            figures[f"upload_{label}"] = {
                "status": response.status_code, "wall_s": round(seconds, 1),
                "rows": body.get("rows"), "valid_rows": body.get("valid_rows"),
                "rows_per_s": round(args_rows(body) / seconds) if seconds else None,
                "server_peak_rss_mb": round(memory_kb(pid, "VmHWM") / 1024),
                "reader_peak_rss_mb_sampled": round(max(readers, default=0) / 1024),
                "status_routes_while_uploading": poller.summary()}
        response, seconds = upload(client, over, over.name, "application/x-ndjson")
        stored = client.get("/v1/datasets").json()["count"]
        figures["upload_one_row_over"] = {
            "status": response.status_code, "wall_s": round(seconds, 1),
            "message": response.json().get("error", {}).get("message", "")[:160],
            "datasets_still_stored": stored}
        sampler.stop.set()
        figures["server_peak_rss_mb"] = round(memory_kb(pid, "VmHWM") / 1024)
        figures["server_peak_rss_mb_sampled"] = round(sampler.peak_kb / 1024)
        figures["server_with_children_peak_rss_mb_sampled"] = round(sampler.tree_peak_kb / 1024)
        figures["probe_worker_peak_rss_mb_sampled"] = sampler.peaks_mb(existing=True)
        figures["upload_reader_peak_rss_mb_sampled"] = sampler.peaks_mb(existing=False)

def time_cli_limit(big: Path, work: Path, figures: dict) -> None:
    """The real default model: how soon the read is done and the first row is probing, with
    exemplars from the file itself (the whole file is the pool, so a limit never changes a
    row's prompts) and from a dev split (nothing but the 10 rows is read); and the CLI's peak
    resident set."""
    first = min((DATA / "train").glob("P*.train.json")).name.split(".")[0]
    for label, extra in (("cli_probe_limit_10", []),
                         ("cli_probe_limit_10_exemplars", [
                             "--exemplars", str(DATA / "dev" / f"{first}.dev.json")])):
        start = time.perf_counter()
        cli = subprocess.Popen(
            [str(SLICK), "probe", str(big), "--limit", "10", "--n-prompts", "1", "--k-shot",
             "1", "--n-samples", "1", "-o", str(work / "ten.parquet"), *extra],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        marks: dict[str, float] = {}
        for line in cli.stderr:
            for mark, prefix in (("read_s", "read "), ("loading_s", "loading "),
                                 ("indexed_s", "indexed "), ("probing_s", "probing:")):
                if line.lstrip("\r").startswith(prefix) and mark not in marks:
                    marks[mark] = round(time.perf_counter() - start, 1)
        _, status, usage = os.wait4(cli.pid, 0)
        cli.returncode = os.waitstatus_to_exitcode(status)
        figures[label] = {"rc": cli.returncode, **marks,
                          "wall_s": round(time.perf_counter() - start, 1),
                          "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def args_rows(body: dict) -> int:
    return body.get("rows") or 0


if __name__ == "__main__":
    main()
