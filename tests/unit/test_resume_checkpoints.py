"""`slick probe` checkpoints (jobs.resumable): finished shards are read back, not probed again, and
checkpoints of a different run are discarded, never mixed in. The killed-process test on the
real model is tests/e2e/test_cli_resume.py."""

from __future__ import annotations

import json

from slick_curator.jobs.resumable import checkpoint_folder, probe_resumable
from slick_curator.engines.fake import FakeEngine
from slick_curator.jobs import checkpoints
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset

FINGERPRINT = {"dataset": "abc", "params": {"seed": 0}}


def make_run(tmp_path, n=12, shard_size=4):
    path = tmp_path / "P36.test.jsonl"
    path.write_text("\n".join(json.dumps({"question": f"What is the capital of place {i}?",
                                          "answer": f"C{i}"}) for i in range(n)))
    params = ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2)
    return ProbeRun(read_dataset(path), params, shard_size=shard_size)


class Recorder(FakeEngine):
    """Remembers which questions it was asked."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def generate(self, requests):
        self.asked |= {self.question_of(r.prompt) for r in requests}
        return super().generate(requests)


def test_checkpoint_folder_sits_beside_the_output_unless_given(tmp_path):
    out = tmp_path / "out.parquet"
    assert checkpoint_folder(out, None) == tmp_path / ".out.parquet.slick-checkpoints"
    assert checkpoint_folder(out, tmp_path / "ck") == tmp_path / "ck"


def test_finished_shards_are_read_back_not_probed_again(tmp_path, capsys):
    run, folder = make_run(tmp_path), tmp_path / "ck"
    first = probe_resumable(run, FakeEngine(), folder, FINGERPRINT, seed=0,
                            disable_progress=True)
    # As if killed after the first shard: only its checkpoint is left.
    for index in range(1, run.n_shards):
        checkpoints.shard_path(folder, index).unlink()
    engine = Recorder()
    again = probe_resumable(run, engine, folder, FINGERPRINT, seed=0, disable_progress=True)
    assert "resuming: 4 of 12 rows already probed" in capsys.readouterr().err
    assert [t.to_pylist() for t in again] == [t.to_pylist() for t in first]
    assert engine.asked == {f"What is the capital of place {i}?" for i in range(4, 12)}


def test_checkpoints_of_a_different_run_are_discarded(tmp_path, capsys):
    run, folder = make_run(tmp_path), tmp_path / "ck"
    probe_resumable(run, FakeEngine(), folder, FINGERPRINT, seed=0, disable_progress=True)
    capsys.readouterr()
    other = {**FINGERPRINT, "params": {"seed": 1}}
    engine = Recorder()
    probe_resumable(run, engine, folder, other, seed=1, disable_progress=True)
    err = capsys.readouterr().err
    assert "discarding checkpoints" in err and "resuming" not in err
    assert engine.asked == {f"What is the capital of place {i}?" for i in range(12)}
    assert json.loads((folder / "run.json").read_text()) == other


def test_a_shard_of_the_previous_release_is_kept_with_its_later_columns_null(tmp_path):
    import pyarrow.parquet as pq

    run = make_run(tmp_path, n=4, shard_size=4)
    table = run.probe_shard(FakeEngine(), run.shard(0))
    old = table.drop_columns(["slick_category_probs", "slick_p_samples", "slick_p_unexplored"])
    path = checkpoints.shard_path(tmp_path / "job", 0)
    path.parent.mkdir(parents=True)
    pq.write_table(old, path)
    found = dict(checkpoints.finished_shards(tmp_path / "job", 1, run.shard_rows))
    assert list(found) == [0] and path.exists()
    assert found[0].column("slick_category").to_pylist() == table.column(
        "slick_category").to_pylist()
    assert found[0].column("slick_category_probs").null_count == 4
