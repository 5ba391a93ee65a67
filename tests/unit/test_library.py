"""The library API (`from slick_curator import probe`): in-process probing of a file or of
in-memory data, the same table whichever form the data came in, and checkpoints that resume."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from slick_curator import probe
from slick_curator.library import ProbeError

ROWS = [{"question": f"What is the capital of place {i}?", "answer": f"C{i}", "relation": "P36"}
        for i in range(10)]
SMALL = {"engine": "fake", "model": "fake", "n_prompts": 2, "k_shot": 2, "n_samples": 2,
         "progress": False}


def slick(table: pa.Table) -> dict:
    return {c: table.column(c).to_pylist() for c in table.column_names if c.startswith("slick_")}


def test_a_file_and_in_memory_data_give_the_same_table(tmp_path):
    path = tmp_path / "P36.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS))
    from_file = probe(path, **SMALL)
    assert from_file.num_rows == 10 and from_file.column("question").to_pylist() == [
        r["question"] for r in ROWS]
    for data in (ROWS, pa.Table.from_pylist(ROWS)):
        assert slick(probe(data, **SMALL)) == slick(from_file)


def test_pandas_frames_are_probed_too(tmp_path):
    pd = pytest.importorskip("pandas")  # pandas is a dev dependency: present where CI runs
    table = probe(pd.DataFrame(ROWS), **SMALL)
    assert table.num_rows == 10 and "slick_category" in table.column_names


def test_a_checkpoint_folder_is_used_and_removed_when_done(tmp_path, capsys):
    folder = tmp_path / "ck"
    first = probe(ROWS, checkpoint_dir=folder, shard_size=4, **SMALL)
    assert not folder.exists()
    # An interrupted call leaves its shards; the next call with the same data resumes.
    from slick_curator.library import ProbeRequest, probe_table
    from slick_curator.probing.columns import ColumnMap
    from slick_curator.probing.params import ProbeParams

    data = tmp_path / "P36.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS))
    request = ProbeRequest(dataset=data, params=ProbeParams(n_prompts=2, k_shot=2, n_samples=2),
                           columns=ColumnMap(), checkpoint_dir=folder, model="fake",
                           engine="fake", shard_size=4, progress=False)
    probe_table(request, print)
    (folder / "shards" / next(p.name for p in (folder / "shards").iterdir())).unlink()
    lines: list[str] = []
    again = probe_table(request, lines.append)
    assert any(line.startswith("resuming: ") for line in lines), lines
    assert slick(again) == slick(first)


def test_bad_data_is_a_probe_error_naming_the_problem():
    with pytest.raises(ProbeError, match="no usable rows"):
        probe([{"question": "q?", "answer": ""}], on_error="skip", **SMALL)
    with pytest.raises(TypeError, match="got int"):
        probe(42, **SMALL)


def test_the_package_names_stay_functions_after_every_subpackage_is_imported():
    # A subpackage named like a library function would replace it on the package once
    # anything imported the subpackage (CI's order hit this with `report`).
    import importlib
    import pkgutil

    import slick_curator

    for info in pkgutil.iter_modules(slick_curator.__path__):
        if info.ispkg:
            importlib.import_module(f"slick_curator.{info.name}")
    for name in ("curate", "probe", "report"):
        assert callable(getattr(slick_curator, name)), name
