"""The exemplar pool of `slick probe --limit` (probing.file_pool): the whole file indexed by
worker processes, every n-th row each, equals one pass over the rows held in memory, and a
probe of the file's head draws the exemplar sets the whole-file probe gives those rows."""

from __future__ import annotations

import gzip
import json
import multiprocessing as mp

import numpy as np
import pytest
from slick_curator.probing.answer_kind import example_kind
from slick_curator.probing.file_pool import PoolScan
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.read_errors import DatasetError
from slick_curator.probing.reading import read_dataset
from slick_curator.probing.records import Example
from slick_curator.probing.row_index import RowIndex, single_answer


@pytest.fixture
def rows_file(tmp_path, eq_dir):
    """EntityQuestions rows of three relations, interleaved, with what a real file holds:
    a bad row, an undecodable line, blank lines, rows with several answers, free-form
    answers, and a question repeated in other case and spacing."""
    rows = []
    for relation in ("P36", "P17", "P19"):
        for r in json.loads((eq_dir / "train" / f"{relation}.train.json").read_text())[:150]:
            rows.append({"question": r["question"], "answers": r["answers"],
                         "relation": relation})
    rows = rows[::3] + rows[1::3] + rows[2::3]
    for i in range(0, len(rows), 17):  # free-form answers: another answer kind
        rows[i]["answers"] = [f"It is {rows[i]['answers'][0]}, as far as I know."]
    rows[40]["answers"] = ["First", "Second"]
    rows.insert(9, {"question": "", "answers": ["x"], "relation": "P36"})
    rows.insert(50, {"question": "  " + rows[3]["question"].upper() + " ",
                     "answers": ["y"], "relation": rows[3]["relation"]})
    lines = [json.dumps(r) for r in rows]
    lines.insert(20, "{not json")
    lines.insert(30, "")
    lines.insert(31, "   ")
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def scan(path, head, workers, **kwargs):
    return PoolScan(path, like=head, override=kwargs.pop("override", "auto"),
                    keep=kwargs.pop("keep", None), workers=workers, in_process_bytes=0,
                    **kwargs)


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize(("override", "keep"), [("auto", None), ("long", single_answer)])
def test_workers_index_the_file_as_one_pass_over_its_rows_does(rows_file, workers, override,
                                                                keep):
    eager = read_dataset(rows_file, on_error="skip")
    head = read_dataset(rows_file, limit=5)
    with scan(rows_file, head, workers, override=override, keep=keep) as pool:
        whole = pool.result()
    expected = RowIndex.build(eager.examples, override=override, keep=keep, at_rows=True)
    index = whole.index
    assert index.groups == expected.groups
    for name in ("positions", "codes", "kinds", "keys"):
        assert np.array_equal(getattr(index, name), getattr(expected, name)), name
    by_row = {e.row: e for e in eager.examples}
    scattered = [int(index.positions[i]) for i in (len(index) - 1, 0, 77, 3, 77)]
    assert whole.fetch(scattered) == [by_row[row] for row in scattered]


def test_a_gzipped_file_is_indexed_by_workers_too(rows_file, tmp_path):
    packed = tmp_path / "rows.jsonl.gz"
    packed.write_bytes(gzip.compress(rows_file.read_bytes()))
    head = read_dataset(packed, limit=5)
    with scan(packed, head, 2) as pool:
        whole = pool.result()
    expected = RowIndex.build(read_dataset(packed, on_error="skip").examples, at_rows=True)
    assert np.array_equal(whole.index.keys, expected.keys)
    assert whole.fetch([int(expected.positions[5])])[0].row == expected.positions[5]


@pytest.mark.parametrize("params", [ProbeParams(), ProbeParams(multi_answer="skip", seed=3),
                                    ProbeParams(k_shot=2, n_prompts=3, answer_kind="short")])
def test_a_limited_probe_draws_the_exemplars_of_the_whole_file_probe(rows_file, params):
    eager = read_dataset(rows_file, on_error="skip")
    head = read_dataset(rows_file, limit=60, on_error="skip")
    keep = single_answer if params.multi_answer == "skip" else None
    with scan(rows_file, head, 2, override=params.answer_kind, keep=keep) as pool:
        limited = ProbeRun(head, params, shard_size=16, pool_rows=pool.result())
    whole = ProbeRun(eager, params, shard_size=16)
    assert limited.total < whole.total
    sets, whole_sets = (run.metadata({})["exemplar_sets"] for run in (limited, whole))
    assert sets and all(sets[group] == whole_sets[group] for group in sets)
    for row in limited.dataset.examples:
        kind = example_kind(row, params.answer_kind)
        pooled = Example(row.row, row.question, row.answers, whole.groups.name(row, kind))
        assert limited.pool.exemplars_for(pooled) == whole.pool.exemplars_for(pooled)


def test_a_broken_file_fails_with_its_name_and_leaving_stops_the_workers(rows_file, tmp_path):
    broken = tmp_path / "cut.jsonl.gz"
    broken.write_bytes(gzip.compress(rows_file.read_bytes())[:-40])
    head = read_dataset(broken, limit=5)
    before = set(mp.active_children())  # other tests' processes may still be running
    with scan(broken, head, 2) as pool, pytest.raises(DatasetError, match="cut.jsonl.gz"):
        pool.result()
    with scan(rows_file, read_dataset(rows_file, limit=5), 2):
        assert len(set(mp.active_children()) - before) >= 2
    assert set(mp.active_children()) <= before


def test_a_small_file_is_indexed_in_this_process(rows_file):
    head = read_dataset(rows_file, limit=5)
    before = set(mp.active_children())
    with PoolScan(rows_file, like=head, override="auto", keep=None) as pool:
        assert set(mp.active_children()) <= before
        whole = pool.result()
    assert len(whole.index) == len(read_dataset(rows_file, on_error="skip").examples)
