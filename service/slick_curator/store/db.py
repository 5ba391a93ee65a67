"""The DuckDB job store: one file, one connection, owned by the API process.

DuckDB allows a single writing process per file, so workers never open it; they report to the
API process, which applies their updates here. A lock serialises the request threads and the
job supervisor thread on the one connection. Opening a file brings its tables to the schema
this release writes (`migrations`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from slick_curator.store.migrations import migrate

# The states a job (probe or fine-tune) never leaves.
TERMINAL = ("succeeded", "failed", "cancelled")


def utcnow() -> dt.datetime:
    """Now in UTC, naive (DuckDB TIMESTAMP); `aware` restores the zone on the way out."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


class Database:
    """A DuckDB connection behind a lock; `query` returns rows as dicts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._con = duckdb.connect(str(path))
        try:
            with self._lock:
                migrate(self._con)
        except BaseException:
            self._con.close()
            raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._con.execute(sql, list(params))
            if cursor.description is None:
                return []
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            self._con.execute(sql, list(params))

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def close(self) -> None:
        with self._lock:
            try:
                self._con.execute("CHECKPOINT")
            finally:
                self._con.close()
