"""The job store's schema as numbered migrations, and the code that runs them.

A DuckDB file remembers the migrations it has run (table `schema_version`); opening it runs the
ones after its version, each in one transaction with its version row, so a crash part-way leaves
the file at the version before. Files from before versioning (releases up to 2026-12-02) have the
tables but no version: they start at 0, and migration 1 (CREATE ... IF NOT EXISTS throughout)
fits them as it builds a fresh file. A file newer than this release is refused, never written by
code that does not know its tables.

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

import duckdb

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SchemaTooNew", "migrate", "schema_version"]

log = logging.getLogger(__name__)


class Migration(NamedTuple):
    """One step of the schema: `sql` takes a file from `version - 1` to `version`."""

    version: int
    description: str
    sql: str


_TABLES = """CREATE SEQUENCE IF NOT EXISTS probe_seq;
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

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "datasets, probes and fine-tunes", _TABLES),
    Migration(2, "datasets.group_questions",
              "ALTER TABLE datasets ADD COLUMN IF NOT EXISTS group_questions VARCHAR;"),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


class SchemaTooNew(RuntimeError):
    """The file was written by a newer release (its schema version is above ours)."""


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The last migration the file has run; 0 for a new file or one from before versioning."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                "description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
    (version,) = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(version)


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Run the migrations the file has not run yet; returns their versions."""
    version = schema_version(con)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(f"the job database has schema version {version}, newer than this "
                           f"release's {SCHEMA_VERSION}: upgrade slick-curator to open it")
    applied = []
    for migration in MIGRATIONS[version:]:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                        [migration.version, migration.description,
                         dt.datetime.now(dt.UTC).replace(tzinfo=None)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    if applied and version:
        log.info("job database migrated from schema version %d to %d", version, applied[-1])
    return applied
