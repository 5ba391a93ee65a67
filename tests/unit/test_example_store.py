"""A probe job reads its dataset a shard at a time (probing.example_store, row_index): stored
examples and tables read by row group equal the eager ones, and a probe over them builds the
same prompts as over rows held in memory, while its pool fetches only the rows its exemplar
sets use."""

from __future__ import annotations

import json

import pytest
from slick_curator.jobs import checkpoints
from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.example_store import ExampleSubset, StoredExamples, take
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.parsed import ParsedWriter, read_parsed
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.prompts import ExemplarPool
from slick_curator.probing.reading import Chunk, read_dataset
from slick_curator.probing.records import Example
from slick_curator.probing.row_index import RowIndex

EQ_RELATIONS = ("P36", "P17", "P19")


@pytest.fixture
def rows_file(tmp_path, eq_dir):
    rows = []
    for relation in EQ_RELATIONS:
        for r in json.loads((eq_dir / "train" / f"{relation}.train.json").read_text())[:120]:
            rows.append({"question": r["question"], "answers": r["answers"],
                         "relation": relation})
    rows.insert(7, {"question": "", "answers": ["x"], "relation": "P36"})  # a bad row
    rows = rows[::2] + rows[1::2]  # relations interleaved
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def parsed_in_chunks(dataset, folder, size):
    """The dataset written as the upload writes it: a row group per chunk of `size` rows."""
    with ParsedWriter(folder) as writer:
        for start in range(0, dataset.table.num_rows, size):
            inside = range(start, start + size)
            writer.add(Chunk(dataset.table.slice(start, size),
                             [e for e in dataset.examples if e.row in inside],
                             [e for e in dataset.errors if e.row in inside]))
        assert writer.finish(dataset.format, dataset.kind, dataset.columns)
    return read_parsed(folder, lazy=True)


def test_stored_rows_read_by_row_group_equal_the_rows_read_at_once(rows_file, tmp_path):
    eager = read_dataset(rows_file, on_error="skip")
    lazy = parsed_in_chunks(eager, tmp_path / "parsed", size=50)
    examples = lazy.examples
    assert isinstance(examples, StoredExamples)
    assert len(examples) == len(eager.examples) and list(examples) == eager.examples
    assert examples[45:130] == eager.examples[45:130]  # across row groups
    assert examples[-1] == eager.examples[-1] and examples[3] == eager.examples[3]
    scattered = [301, 0, 77, 49, 50, 301]
    assert take(examples, scattered) == [eager.examples[p] for p in scattered]
    assert lazy.table.num_rows == eager.table.num_rows
    assert lazy.table.slice(40, 70).equals(eager.table.slice(40, 70))
    assert lazy.errors == eager.errors
    with pytest.raises(IndexError):
        examples[len(examples)]


def test_a_subset_reads_through_to_its_source(rows_file, tmp_path):
    eager = read_dataset(rows_file, on_error="skip")
    stored = parsed_in_chunks(eager, tmp_path / "parsed", size=64).examples
    import numpy as np

    kept = np.array([2, 5, 70, 71, 200])
    subset = ExampleSubset(stored, kept)
    assert list(subset) == [eager.examples[p] for p in kept]
    assert subset[1:3] == [eager.examples[5], eager.examples[70]]
    assert take(subset, [4, 0]) == [eager.examples[200], eager.examples[2]]


@pytest.mark.parametrize("params", [ProbeParams(mode="adaptive"),
                                    ProbeParams(mode="adaptive", multi_answer="skip", seed=3),
                                    ProbeParams(mode="adaptive", k_shot=2, n_prompts=3)])
def test_a_probe_over_stored_rows_builds_the_prompts_of_rows_in_memory(rows_file, tmp_path,
                                                                         params):
    eager = read_dataset(rows_file, on_error="skip")
    lazy = parsed_in_chunks(eager, tmp_path / "parsed", size=40)
    a = ProbeRun(eager, params, shard_size=16)
    b = ProbeRun(lazy, params, shard_size=16)
    assert (a.total, a.n_shards, a.warnings) == (b.total, b.n_shards, b.warnings)
    assert b.metadata({})["exemplar_sets"] == a.metadata({})["exemplar_sets"]
    assert b.dataset.errors == a.dataset.errors
    for index in range(a.n_shards):
        assert a.shard(index) == b.shard(index)
        assert a.shard_rows(index) == b.shard_rows(index)
        for row in a.shard(index):
            kind = example_kind(row, params.answer_kind)
            pooled = Example(row.row, row.question, row.answers, a.groups.name(row, kind))
            assert a.pool.exemplars_for(pooled) == b.pool.exemplars_for(pooled)


def test_the_pool_fetches_only_the_rows_its_sets_use():
    rows = [Example(i, f"Question number {i}?", (f"A{i}",), group=f"g{i % 3}")
            for i in range(3000)]
    fetched: list[int] = []

    def fetch(positions):
        fetched.extend(positions)
        return [rows[p] for p in positions]

    index = RowIndex.build(rows)
    pool = ExemplarPool.from_index(
        {index.groups[c]: entry for c, entry in index.distinct(index.codes).items()},
        fetch, n_prompts=10, k_shot=4, seed=0)
    members = {e.row for g in pool.groups for s in pool.exemplar_sets(g) for e in s}
    assert set(fetched) == members and len(fetched) == len(members) <= 3 * 10 * 4
    same = ExemplarPool(rows, n_prompts=10, k_shot=4, seed=0)
    for row in rows[:50]:
        assert pool.exemplars_for(row) == same.exemplars_for(row)


def test_questions_that_differ_in_case_and_spacing_are_one_candidate():
    rows = [Example(0, "Who owns  Acme?", ("X",)), Example(1, "who owns acme?", ("Y",)),
            Example(2, "Who owns Beta?", ("Z",))]
    index = RowIndex.build(rows)
    positions, _ = index.distinct(index.codes)[0]
    assert positions.tolist() == [0, 2]  # the first occurrence, in input order


def test_resume_reads_shard_checkpoints_one_at_a_time(rows_file, tmp_path):
    from slick_curator.engines.fake import FakeEngine

    run = ProbeRun(read_dataset(rows_file, on_error="skip"),
                   ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2), shard_size=32)
    job = tmp_path / "job"
    from slick_curator.atomic_files import write_parquet_atomic

    for index in (0, 2):
        write_parquet_atomic(run.probe_shard(FakeEngine(), run.shard(index)),
                             checkpoints.shard_path(job, index))
    found = checkpoints.finished_shards(job, run.n_shards, run.shard_rows)
    assert not isinstance(found, dict | list)  # a generator: one table at a time
    assert [index for index, _ in found] == [0, 2]


def test_a_pool_over_stored_rows_travels_whole_to_another_process(rows_file, tmp_path):
    """A Ray actor gets the pool pickled: it cannot read the worker's files, so every
    candidate's row goes with it, and it draws the same sets (spares included)."""
    import copy
    import pickle

    lazy = parsed_in_chunks(read_dataset(rows_file, on_error="skip"), tmp_path / "p", size=40)
    run = ProbeRun(lazy, ProbeParams(mode="adaptive"), shard_size=16)
    slim = copy.copy(run)
    slim.dataset = None
    (tmp_path / "p").rename(tmp_path / "gone")  # the files are not there on another node
    far = pickle.loads(pickle.dumps(slim))
    rows = [e for _, shard in run.shards() for e in shard]
    for row in rows[:60]:
        pooled = Example(row.row, row.question, row.answers, row.group)
        assert far.pool.exemplars_for(pooled) == run.pool.exemplars_for(pooled)


def test_a_dataset_read_error_on_resume_keeps_the_checkpoints(rows_file, tmp_path):
    """Reading the stored dataset can fail (a damaged file): the job fails, and the shard
    checkpoints, which are fine, stay for when the dataset is readable again."""
    import pyarrow as pa

    from slick_curator.atomic_files import write_parquet_atomic
    from slick_curator.engines.fake import FakeEngine

    run = ProbeRun(read_dataset(rows_file, on_error="skip"),
                   ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2), shard_size=32)
    job = tmp_path / "job"
    write_parquet_atomic(run.probe_shard(FakeEngine(), run.shard(0)),
                         checkpoints.shard_path(job, 0))

    def unreadable(index):
        raise pa.ArrowInvalid("damaged row group")

    with pytest.raises(pa.ArrowInvalid):
        list(checkpoints.finished_shards(job, run.n_shards, unreadable))
    assert checkpoints.shard_path(job, 0).exists()
