"""`slick probe` and `slick_curator.probe` checkpoint their shards as a service job does, so a
killed run resumes.

The shards go to a folder beside the output (``.OUTPUT.slick-checkpoints/``, or
``--checkpoint-dir``) through the job code's own loop (`jobs.execute.probe_checkpointed`) and
file format. The folder also holds `run.json`, what the run was asked (the input files' hashes,
the parameters, engine, model, limit, shard size, columns, release); checkpoints of any other
run are discarded, never mixed in. The folder is removed once the output is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pyarrow as pa

__all__ = ["checkpoint_folder", "file_sha256", "probe_resumable"]


def checkpoint_folder(output: Path, option: Path | None) -> Path:
    return option or output.with_name(f".{output.name}.slick-checkpoints")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def probe_resumable(run, engine, folder: Path, fingerprint: dict[str, Any], *, seed: int,
                    disable_progress: bool, say: Callable[[str], None] | None = None
                    ) -> list[pa.Table]:
    """Every shard's table of `run`, in order: the checkpointed ones read back, the rest
    probed on `engine` and checkpointed. `say` gets the resuming / discarding lines (default:
    stderr)."""
    from tqdm import tqdm

    from slick_curator.atomic_files import write_json_atomic
    from slick_curator.executors.base import LocalExecutor
    from slick_curator.jobs import checkpoints
    from slick_curator.jobs.execute import InShardEstimate, probe_checkpointed

    say = say or (lambda line: click.echo(line, err=True))
    run_file = folder / "run.json"
    if folder.exists() and _recorded(run_file) != fingerprint:
        say(f"discarding checkpoints in {folder}: they are from a different run")
        shutil.rmtree(folder)
    write_json_atomic(fingerprint, run_file)
    done = dict(checkpoints.finished_shards(folder, run.n_shards, run.shard_rows))
    resumed = sum(t.num_rows for t in done.values())
    if done:
        say(f"resuming: {resumed} of {run.total} rows already probed ({folder})")

    estimate = InShardEstimate(run.params)
    shown: dict[int, dict[str, int]] = {}
    with tqdm(total=run.total, initial=resumed, unit="row", disable=disable_progress,
              dynamic_ncols=True, desc="probing") as bar:

        def watch(index: int, rows: list) -> Callable[[int], None]:
            state = shown[index] = {"gens": 0, "rows": 0}

            def on_generated(n: int) -> None:  # rows of a shard finish together: estimate
                state["gens"] += n
                inside = estimate.rows_done(len(rows), state["gens"])
                bar.update(max(0, inside - state["rows"]))
                state["rows"] = max(inside, state["rows"])

            return on_generated

        executor = LocalExecutor(engine)
        for index, rows, table in probe_checkpointed(executor, run, folder, set(done),
                                                     seed=seed, check=lambda: None,
                                                     watch=watch):
            state = shown.pop(index)
            bar.update(len(rows) - state["rows"])
            estimate.shard_finished(len(rows), state["gens"])
            done[index] = table
    return [done[i] for i in range(run.n_shards)]


def _recorded(run_file: Path) -> Any:
    try:
        return json.loads(run_file.read_text())
    except (OSError, ValueError):
        return None
