"""ProbeRun options: multi-answer rows, warnings and the exemplar sets in the metadata."""

from __future__ import annotations

import json

from slick_curator.engines.fake import FakeEngine
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.reading import read_dataset


def dataset(tmp_path, rows, name="P36.test.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return read_dataset(path)


def qa(i, answers):
    return {"question": f"What is the capital of place {i}?", "answers": answers}


def annotated(run, engine):
    shards = [run.probe_shard(engine, rows) for _, rows in run.shards()]
    return run.annotate(shards, run.metadata(engine.info()))


def test_multi_answer_skip_drops_rows_with_several_answers(tmp_path):
    rows = [qa(i, ["A", "B"] if i % 3 == 0 else [f"C{i}"]) for i in range(12)]
    data = dataset(tmp_path, rows)
    params = ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2, multi_answer="skip")
    run = ProbeRun(data, params)
    assert {e.row for e in run.dataset.examples} == {i for i in range(12) if i % 3}
    # The multi-answer rows are no exemplars either.
    used = {x for group in run.metadata({})["exemplar_sets"].values() for s in group for x in s}
    assert used and all(int(x.removeprefix("row:")) % 3 for x in used)
    table = annotated(run, FakeEngine())
    status = table.column("slick_status").to_pylist()
    errors = table.column("slick_error").to_pylist()
    for i in range(12):
        if i % 3 == 0:
            assert status[i] == "skipped" and errors[i] == "answers: 2 answers (multi_answer=skip)"
        else:
            assert status[i] == "probed"
    meta = json.loads(table.schema.metadata[b"slick"])
    assert meta["params"]["multi_answer"] == "skip" and meta["dataset"]["skipped"] == 4


def test_aliases_is_the_default_and_probes_every_row(tmp_path):
    data = dataset(tmp_path, [qa(i, ["A", "B"]) for i in range(8)])
    run = ProbeRun(data, ProbeParams(mode="adaptive", n_prompts=2, k_shot=2, n_samples=2))
    assert len(run.dataset.examples) == 8 and run.params.multi_answer == "aliases"


def test_exemplar_sets_and_warnings_are_in_the_metadata(tmp_path):
    rows = ([{"question": f"Who owns Company{i}?", "answer": f"O{i}"} for i in range(10)]
            + [{"question": f"Where was Person{i} born?", "answer": f"B{i}"} for i in range(10)])
    data = dataset(tmp_path, rows, name="mixed.jsonl")
    run = ProbeRun(data, ProbeParams(mode="adaptive", n_prompts=3, k_shot=2, n_samples=2))
    assert len(run.warnings) == 1 and "2 question templates" in run.warnings[0]
    table = annotated(run, FakeEngine())
    meta = json.loads(table.schema.metadata[b"slick"])
    assert meta["warnings"] == run.warnings
    sets = meta["exemplar_sets"]["all"]
    for ids, indices in zip(table.column("slick_exemplar_ids").to_pylist(),
                            table.column("slick_exemplar_sets").to_pylist(), strict=True):
        assert [sets[i] for i in indices] == ids
