"""Files that are complete or absent."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slick_curator.atomic_files import write_atomic, write_json_atomic, write_parquet_atomic


def test_a_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "report.json"
    write_json_atomic({"v": 1}, path)

    def half_then_crash(f):
        f.write(b'{"v": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_crash)
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_parquet_lands_whole_in_a_new_folder(tmp_path):
    path = tmp_path / "a" / "b" / "shard.parquet"
    write_parquet_atomic(pa.table({"x": [1, 2, 3]}), path)
    assert pq.read_table(path).column("x").to_pylist() == [1, 2, 3]
    assert [p.name for p in path.parent.iterdir()] == ["shard.parquet"]
