"""Annotated Parquet: rows in = rows out, in order, skipped rows kept, metadata recorded."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.schema import read_metadata, write_parquet

ONE_PROMPT = ProbeParams(mode="adaptive", n_prompts=1, k_shot=1, n_samples=1)


def write_jsonl(path, rows):
    import json

    path.write_text("\n".join(json.dumps(r) if isinstance(r, dict) else r for r in rows) + "\n")
    return path


@pytest.fixture
def dataset(tmp_path):
    rows = [{"question": f"q{i}?", "answers": [f"a{i}"], "extra": i} for i in range(7)]
    rows.insert(3, {"question": "broken?", "extra": 99})  # no answer
    return read_dataset(write_jsonl(tmp_path / "d.jsonl", rows), on_error="skip")


def run_and_annotate(dataset, tmp_path, **params):
    p = ProbeParams(**{"mode": "adaptive", "n_prompts": 2, "k_shot": 2, "n_samples": 2, **params})
    run = ProbeRun(dataset, p, shard_size=3)
    engine = FakeEngine(greedy={"q0?": "a0", "q1?": "a1"})
    shards = [run.probe_shard(engine, rows) for _, rows in run.shards()]
    table = run.annotate(shards, run.metadata(engine.info(), model="fake"))
    write_parquet(table, tmp_path / "out.parquet")
    return pq.read_table(tmp_path / "out.parquet")


def test_rows_in_equal_rows_out_in_order_with_input_columns_kept(dataset, tmp_path):
    out = run_and_annotate(dataset, tmp_path)
    assert out.num_rows == 8
    assert out.column("extra").to_pylist() == [0, 1, 2, 99, 3, 4, 5, 6]
    assert out.column("slick_status").to_pylist()[3] == "skipped"
    assert "answer" in out.column("slick_error").to_pylist()[3]
    assert out.column("slick_recommendation").to_pylist() == [
        "keep", "keep", "drop", "drop", "drop", "drop", "drop", "drop"]
    assert out.column("slick_category").to_pylist()[:3] == ["HighlyKnown", "HighlyKnown", "Unknown"]
    assert "slick_prompts" not in out.column_names


def test_relabel_recommendation_and_kept_prompts(dataset, tmp_path):
    out = run_and_annotate(dataset, tmp_path, unknown_action="relabel", keep_prompts=True)
    assert out.column("slick_recommendation").to_pylist()[2] == "relabel"
    assert out.column("slick_recommendation").to_pylist()[3] == "drop"  # skipped stays drop
    assert len(out.column("slick_prompts").to_pylist()[0]) == 2


def test_metadata_records_model_engine_params_and_version(dataset, tmp_path):
    run_and_annotate(dataset, tmp_path, seed=7)
    meta = read_metadata(tmp_path / "out.parquet")
    assert meta["params"]["seed"] == 7 and meta["params"]["n_prompts"] == 2
    assert meta["engine"]["engine"] == "fake" and meta["model"] == "fake"
    assert meta["slick_curator_version"]
    assert meta["dataset"] == {"format": "jsonl", "kind": "qa", "shape": "qa", "rows": 8,
                               "probed": 7, "skipped": 1, "group_column": None}


def test_duckdb_pandas_and_polars_read_the_file(dataset, tmp_path):
    import duckdb
    import pandas as pd
    import polars as pl

    run_and_annotate(dataset, tmp_path)
    path = str(tmp_path / "out.parquet")
    assert duckdb.sql(f"select count(*) from '{path}' where slick_category = 'Unknown'").fetchall()[0][0] == 5
    assert len(pd.read_parquet(path)) == 8
    assert pl.read_parquet(path).filter(pl.col("slick_status") == "skipped").height == 1


def test_annotate_refuses_rows_without_result_or_error(dataset):
    run = ProbeRun(dataset, ONE_PROMPT, shard_size=3)
    first = run.probe_shard(FakeEngine(), run.shard(0))
    with pytest.raises(ValueError, match="neither a result nor an error"):
        run.annotate([first], {})
    with pytest.raises(ValueError, match="same row twice"):
        run.annotate([first, first] + [run.probe_shard(FakeEngine(), r) for i, r in run.shards({0})], {})


def test_reprobing_an_annotated_table_replaces_slick_columns(dataset, tmp_path):
    out = run_and_annotate(dataset, tmp_path)
    again = read_dataset(tmp_path / "out.parquet", on_error="skip")
    run = ProbeRun(again, ONE_PROMPT, shard_size=4)
    table = run.annotate([run.probe_shard(FakeEngine(), r) for _, r in run.shards()], {})
    assert table.num_rows == out.num_rows
    assert sum(c == "slick_category" for c in table.column_names) == 1


def test_shards_are_fixed_and_skip_finished(dataset):
    run = ProbeRun(dataset, ONE_PROMPT, shard_size=3)
    assert run.n_shards == 3
    assert [i for i, _ in run.shards({1})] == [0, 2]
    assert [e.row for e in run.shard(1)] == [4, 5, 6]
