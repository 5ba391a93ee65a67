"""The DuckDB job store: one file, one connection, owned by the API process.

DuckDB allows a single writing process per file, so workers never open it; they report to the
API process, which applies their updates here. A lock serialises the request threads and the
job supervisor thread on the one connection.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS probe_seq;
CREATE TABLE IF NOT EXISTS datasets (
    id VARCHAR PRIMARY KEY,
    name VARCHAR,
    format VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    n_rows BIGINT NOT NULL,
    n_valid BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    columns VARCHAR NOT NULL,
    column_map VARCHAR NOT NULL,
    groups VARCHAR NOT NULL,
    errors VARCHAR NOT NULL,
    max_text_chars BIGINT,
    created_at TIMESTAMP NOT NULL
);
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS group_questions VARCHAR;
CREATE TABLE IF NOT EXISTS probes (
    id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL DEFAULT nextval('probe_seq'),
    dataset_id VARCHAR NOT NULL,
    exemplar_dataset_id VARCHAR,
    status VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    engine VARCHAR NOT NULL,
    params VARCHAR NOT NULL,
    shard_size BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    rate DOUBLE,
    eta_s DOUBLE,
    counts VARCHAR NOT NULL DEFAULT '{}',
    error VARCHAR,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
CREATE SEQUENCE IF NOT EXISTS finetune_seq;
CREATE TABLE IF NOT EXISTS finetunes (
    id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL DEFAULT nextval('finetune_seq'),
    probe_id VARCHAR NOT NULL,
    eval_dataset_id VARCHAR,
    eval_probe_id VARCHAR,
    status VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    variants VARCHAR NOT NULL,
    params VARCHAR NOT NULL,
    progress VARCHAR NOT NULL DEFAULT '{}',
    results VARCHAR NOT NULL DEFAULT '{}',
    error VARCHAR,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
"""


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
        with self._lock:
            self._con.execute(_SCHEMA)

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
