"""A `slick probe` killed with SIGKILL resumes where it stopped: the real model, the real CLI
in its own process, every row exactly once, and the categories of a run never killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.model

N_ROWS, SHARD = 24, 3
SLICK = Path(sys.executable).with_name("slick")


def slick_probe(data: Path, out: Path, **popen) -> subprocess.Popen:
    command = [str(SLICK), "probe", str(data), "-o", str(out), "--n-prompts", "4",
               "--shard-size", str(SHARD), "--no-progress"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def columns_of(path: Path) -> dict:
    table = pq.read_table(path)
    return {c: table.column(c).to_pylist() for c in table.column_names}


def test_a_killed_probe_resumes_with_every_row_exactly_once(tmp_path, eq_dir, model_path):
    data = tmp_path / "P36.json"
    rows = json.loads((eq_dir / "test" / "P36.test.json").read_text())[:N_ROWS]
    data.write_text(json.dumps(rows))
    reference = tmp_path / "reference.parquet"
    whole = slick_probe(data, reference)
    assert whole.wait(timeout=1800) == 0, whole.stderr.read()

    out = tmp_path / "out.parquet"
    shards = tmp_path / ".out.parquet.slick-checkpoints" / "shards"
    killed = slick_probe(data, out, start_new_session=True)
    deadline = time.monotonic() + 1800
    while len(list(shards.glob("*.parquet"))) < 2:
        assert killed.poll() is None, killed.stderr.read()
        assert time.monotonic() < deadline, "no checkpoints within 1800 s"
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    checkpointed = len(list(shards.glob("*.parquet")))
    assert not out.exists() and checkpointed < N_ROWS // SHARD

    resumed = slick_probe(data, out)
    assert resumed.wait(timeout=1800) == 0
    log = resumed.stderr.read()
    assert f"resuming: {checkpointed * SHARD} of {N_ROWS} rows already probed" in log, log
    columns = columns_of(out)
    assert columns["question"] == [r["question"] for r in rows]  # each row once, in order
    assert columns == columns_of(reference)  # every category as if never killed
    assert not shards.parent.exists()  # checkpoints go once the output is written
