"""Steps shared by the fine-tune benchmarks: EntityQuestions samples and timed `slick` calls."""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "entityquestions"

Log = list[tuple[str, float]]


def sample(split: str, relations: list[str], n: int, seed: int) -> list[dict]:
    """`n` seeded single-answer QA rows per relation of one EntityQuestions split."""
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


def slick(*args: str, log: Log) -> None:
    """Run `slick ARGS` from the venv; its command line (paths from the root) and seconds go
    to `log` for the results file."""
    command = [str(ROOT / ".venv" / "bin" / "slick"), *args]
    shown = " ".join(shlex.quote(a.replace(f"{ROOT}/", "")) for a in ["slick", *args])
    print(f"$ {shown}", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True)
    log.append((shown, time.monotonic() - started))
