"""Categories replay bit for bit on the real SmolLM2-135M: every sample draws from its own
stream, so the batch a sample is decoded in (shard size, pruning, adaptive stopping, a warm
engine that ran other jobs) never changes what it says."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from slick_curator.cli import cli
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset

pytestmark = pytest.mark.model

# P36 test rows 0-17 hold every kind of row: known, unknown and one WeaklyKnown (row 16)
# whose only correct answers are samples.
N_ROWS = 18


def slick_columns(table):
    return {c: table.column(c).to_pylist() for c in table.column_names if c.startswith("slick_")}


@pytest.fixture(scope="module")
def rows(eq_dir):
    return read_dataset(eq_dir / "test" / "P36.test.json", limit=N_ROWS)


@pytest.fixture(scope="module")
def probe(hf_engine, rows, p36_dev):
    def run(shard_size=8, **params):
        run = ProbeRun(rows, ProbeParams(**params), exemplars=p36_dev, shard_size=shard_size)
        shards = [run.probe_shard(hf_engine, shard) for _, shard in run.shards()]
        table = run.annotate(shards, run.metadata(hf_engine.info()))
        return slick_columns(table)

    return run


@pytest.fixture(scope="module")
def full(probe):
    return probe(mode="full")


def test_full_twice_on_a_warm_engine_is_identical_in_every_field(probe, full):
    assert probe(mode="full") == full
    categories = set(full["slick_category"])
    # The rows exercise sampling: a WeaklyKnown row exists only through its samples.
    assert {"WeaklyKnown", "Unknown"} <= categories, categories


def test_shard_size_changes_nothing(probe, full):
    assert probe(mode="full", shard_size=64) == full


def test_pruning_changes_no_sample_outcome(probe, full):
    unpruned = probe(mode="full", prune_samples=False)
    differing = [c for c in full if unpruned[c] != full[c]]
    # Pruned samples stop early, so fewer tokens are generated; nothing else moves.
    assert differing == ["slick_generated_tokens"]


def test_adaptive_gives_the_categories_of_full(probe, full):
    adaptive = probe(mode="adaptive")
    assert adaptive["slick_category"] == full["slick_category"]
    for name in ("slick_greedy_answers", "slick_greedy_correct", "slick_exemplar_ids",
                 "slick_exemplar_sets"):
        assert adaptive[name] == full[name], name
    # Unknown rows draw every sample in both modes: the same samples, all wrong.
    for i, category in enumerate(full["slick_category"]):
        if category == "Unknown":
            assert adaptive["slick_n_samples"][i] == full["slick_n_samples"][i] == 160


def test_adaptive_without_pruning_gives_the_same_categories(probe, full):
    assert probe(mode="adaptive", prune_samples=False)["slick_category"] == full["slick_category"]


def test_limit_keeps_every_row_prompt(tmp_path, eq_dir):
    """`--limit N` probes the first N rows with the prompts the whole-file run gives them."""
    source = json.loads((eq_dir / "test" / "P36.test.json").read_text())[:30]
    data = tmp_path / "P36.test.json"
    data.write_text(json.dumps(source))
    runner = CliRunner()
    common = ["--mode", "fast", "--keep-prompts", "--n-prompts", "4", "--no-progress"]
    outputs = {}
    for name, extra in (("whole", []), ("head", ["--limit", "5"])):
        out = tmp_path / f"{name}.parquet"
        result = runner.invoke(cli, ["probe", str(data), "-o", str(out), *common, *extra])
        assert result.exit_code == 0, result.output
        outputs[name] = pq.read_table(out)
    whole, head = outputs["whole"], outputs["head"]
    assert head.num_rows == 5
    for name in ("slick_prompts", "slick_exemplar_ids", "slick_exemplar_sets",
                 "slick_category"):
        assert head.column(name).to_pylist() == whole.column(name).to_pylist()[:5], name
