"""Small builders of input files shared by the dataset-reading tests."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from slick_curator.probing.records import RowError

P36 = Path(__file__).parents[2].parent / "shared/data/entityquestions/test/P36.test.json"


def jsonl(rows: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def by_row(errors: list[RowError]) -> dict[int, tuple[str, str]]:
    return {e.row: (e.field, e.reason) for e in errors}
