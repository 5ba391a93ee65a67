"""The annotated file written shard by shard is the one `annotate` gives for everything at
once, row for row and byte for byte in its values, whatever the skipped rows' places: before
the first result, between shards, inside one, after the last, or every row."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from annotated_helpers import ScriptedEngine, qa_rows, script_for, write_input
from slick_curator.probing.annotated_writer import write_annotated
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset


def rows_with_gaps(n: int, bad: set[int]) -> list[dict]:
    rows = qa_rows(n)
    for i in bad:
        rows[i]["question"] = ""  # skipped: an empty question
    return rows


@pytest.mark.parametrize("bad", [set(), {0, 1}, {5, 6, 7}, {3}, {22, 23}, {0, 11, 23}])
def test_written_shard_by_shard_equals_annotating_everything_at_once(tmp_path, bad):
    rows = rows_with_gaps(24, bad)
    data = read_dataset(write_input(tmp_path / "in.jsonl", rows), on_error="skip")
    params = ProbeParams(mode="adaptive", n_prompts=2, k_shot=1, n_samples=2)
    run = ProbeRun(data, params, shard_size=5)
    engine = ScriptedEngine(**script_for(qa_rows(24)))
    shards = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    meta = run.metadata(engine.info(), model="fake")
    pq.write_table(run.annotate(shards, meta), tmp_path / "whole.parquet")
    whole = pq.read_table(tmp_path / "whole.parquet")  # both through Parquet, to compare

    out = tmp_path / "streamed.parquet"
    write_annotated(out, data.table, iter(shards), data.errors, metadata=meta)
    streamed = pq.read_table(out)
    assert streamed.schema.equals(whole.schema, check_metadata=True)
    assert streamed.to_pylist() == whole.to_pylist()
    assert streamed.column("slick_status").to_pylist().count("skipped") == len(bad)


def test_row_groups_hold_a_bounded_number_of_rows(tmp_path, monkeypatch):
    from slick_curator.probing import annotated_writer

    monkeypatch.setattr(annotated_writer, "ROW_GROUP_ROWS", 7)
    rows = rows_with_gaps(24, {23})
    data = read_dataset(write_input(tmp_path / "in.jsonl", rows), on_error="skip")
    params = ProbeParams(mode="adaptive", n_prompts=2, k_shot=1, n_samples=2)
    run = ProbeRun(data, params, shard_size=5)
    engine = ScriptedEngine(**script_for(qa_rows(24)))
    shards = [run.probe_shard(engine, shard) for _, shard in run.shards()]
    out = tmp_path / "streamed.parquet"
    write_annotated(out, data.table, iter(shards), data.errors, metadata={})
    # shards of 5 rows, written once 7 or more are held: 10, 10, then the last 4 (+ 1 skipped)
    groups = pq.ParquetFile(out).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [10, 10, 4]


def test_a_dataset_of_skipped_rows_only_still_gets_a_file(tmp_path):
    rows = rows_with_gaps(3, {0, 1, 2})
    data = read_dataset(write_input(tmp_path / "in.jsonl", rows), on_error="skip")
    out = tmp_path / "streamed.parquet"
    write_annotated(out, data.table, iter([]), data.errors, metadata={"m": 1})
    assert pq.read_table(out).column("slick_status").to_pylist() == ["skipped"] * 3
