"""Dataset records: what was uploaded, how to re-read it, and what it holds."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from slick_client.schemas import DatasetPublic, RowErrorPublic

from slick_curator.probing.columns import ColumnMap, row_shape
from slick_curator.store.db import Database, aware, utcnow


@dataclass
class DatasetRecord:
    """A stored dataset. `column_map` and `max_text_chars` re-read it exactly as at upload.

    `group_questions` counts the distinct questions of each group's valid rows (None for
    datasets stored before it was recorded), so a probe can be validated without a re-read.
    """

    id: str
    name: str | None
    format: str
    kind: str
    rows: int
    valid_rows: int
    sha256: str
    size_bytes: int
    columns: list[str]
    column_map: dict[str, Any]
    groups: dict[str, int]
    errors: list[dict[str, Any]]
    max_text_chars: int | None = None
    created_at: dt.datetime = field(default_factory=utcnow)
    group_questions: dict[str, int] | None = None

    def public(self) -> DatasetPublic:
        return DatasetPublic(
            id=self.id, name=self.name, format=self.format, kind=self.kind,
            shape=row_shape(self.kind, ColumnMap(**self.column_map)), rows=self.rows,
            valid_rows=self.valid_rows, sha256=self.sha256, size_bytes=self.size_bytes,
            columns=self.columns, groups=self.groups,
            errors=[RowErrorPublic(**e) for e in self.errors], created_at=aware(self.created_at),
        )


def _record(row: dict[str, Any]) -> DatasetRecord:
    return DatasetRecord(
        id=row["id"], name=row["name"], format=row["format"], kind=row["kind"],
        rows=row["n_rows"], valid_rows=row["n_valid"], sha256=row["sha256"],
        size_bytes=row["size_bytes"], columns=json.loads(row["columns"]),
        column_map=json.loads(row["column_map"]), groups=json.loads(row["groups"]),
        errors=json.loads(row["errors"]), max_text_chars=row["max_text_chars"],
        created_at=row["created_at"],
        group_questions=json.loads(row["group_questions"]) if row.get("group_questions")
        else None,
    )


_COLUMNS = ("id", "name", "format", "kind", "n_rows", "n_valid", "sha256", "size_bytes",
            "columns", "column_map", "groups", "errors", "max_text_chars", "created_at",
            "group_questions")


class DatasetStore:
    """All SQL about datasets."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, r: DatasetRecord) -> bool:
        """Store `r`; False when a dataset with its id already exists (nothing changes)."""
        with self.db.lock:
            if self.get(r.id) is not None:
                return False
            self.db.execute(
                f"INSERT INTO datasets ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                [r.id, r.name, r.format, r.kind, r.rows, r.valid_rows, r.sha256, r.size_bytes,
                 json.dumps(r.columns), json.dumps(r.column_map), json.dumps(r.groups),
                 json.dumps(r.errors), r.max_text_chars, r.created_at,
                 None if r.group_questions is None else json.dumps(r.group_questions)],
            )
            return True

    def ids(self) -> set[str]:
        return {r["id"] for r in self.db.query("SELECT id FROM datasets")}

    def get(self, dataset_id: str) -> DatasetRecord | None:
        rows = self.db.query("SELECT * FROM datasets WHERE id = ?", [dataset_id])
        return _record(rows[0]) if rows else None

    def page(self, limit: int, offset: int) -> tuple[list[DatasetRecord], int]:
        """Newest first."""
        with self.db.lock:
            rows = self.db.query(
                "SELECT * FROM datasets ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                [limit, offset])
            count = self.db.query("SELECT count(*) AS n FROM datasets")[0]["n"]
        return [_record(r) for r in rows], count
