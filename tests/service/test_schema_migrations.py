"""The job store across releases: a data dir written by the previous release opens and serves,
and the schema is versioned.

tests/fixtures/datadir-2026-12-02.tar.gz was written by release 21384ba (the last one without
schema versions) through its own HTTP API: two datasets (one with a rejected row) and a probe
that succeeded on the first."""

from __future__ import annotations

import tarfile
from pathlib import Path

import duckdb
import pytest
from service_helpers import make_settings, result_table, running_app, start_probe, wait_status

from slick_curator.store.db import Database
from slick_curator.store.migrations import MIGRATIONS, SCHEMA_VERSION, SchemaTooNew, schema_version

FIXTURE = Path(__file__).parents[1] / "fixtures" / "datadir-2026-12-02.tar.gz"
OLD_PROBE = "pr_6d5c0ccd049e4aa09d699c5e"
OLD_DATASETS = {"ds_a0c18e06d02e4ab997d85220", "ds_6d20d239f04b1c737594bb6e"}


@pytest.fixture
def old_data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(target, filter="data")
    return target


def test_the_previous_releases_data_dir_opens_and_serves_what_it_holds(old_data_dir):
    with duckdb.connect(str(old_data_dir / "slick.duckdb")) as con:
        tables = {name for (name,) in con.execute("SHOW TABLES").fetchall()}
    assert "schema_version" not in tables  # really from before versioning

    with running_app(make_settings(old_data_dir)) as client:
        datasets = client.get("/v1/datasets").json()["data"]
        assert {d["id"] for d in datasets} == OLD_DATASETS
        old = client.get(f"/v1/probes/{OLD_PROBE}").json()
        assert old["status"] == "succeeded"
        assert old["counts"] == {"HighlyKnown": 8, "MaybeKnown": 0, "WeaklyKnown": 0,
                                 "Unknown": 4}
        assert result_table(client, OLD_PROBE).num_rows == 12
        # The old datasets take new probes.
        by_rows = {d["valid_rows"]: d for d in datasets}
        assert set(by_rows) == {12, 4} and len(by_rows[4]["errors"]) == 1
        qa = by_rows[12]
        assert not (old_data_dir / "parsed" / qa["id"]).exists()  # read from its file
        new = wait_status(client, start_probe(client, qa["id"])["id"], "succeeded")
        assert new["counts"] == old["counts"]
        assert client.get("/v1/probes").json()["count"] == 2

    with duckdb.connect(str(old_data_dir / "slick.duckdb")) as con:
        assert schema_version(con) == SCHEMA_VERSION


def test_opening_runs_each_migration_once_in_order(tmp_path):
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    path = tmp_path / "slick.duckdb"
    Database(path).close()
    Database(path).close()  # a second open has nothing to run
    with duckdb.connect(str(path)) as con:
        versions = [v for (v,) in con.execute("SELECT version FROM schema_version ORDER BY 1")
                    .fetchall()]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_file_from_a_newer_release_is_refused_untouched(tmp_path):
    path = tmp_path / "slick.duckdb"
    Database(path).close()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_version VALUES (?, 'from the future', now())",
                    [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaTooNew, match="upgrade"):
        Database(path)
    with duckdb.connect(str(path)) as con:  # closed again: the file is not locked
        assert schema_version(con) == SCHEMA_VERSION + 1


def test_a_failing_migration_leaves_the_file_at_the_version_before(tmp_path, monkeypatch):
    from slick_curator.store import migrations

    path = tmp_path / "slick.duckdb"
    Database(path).close()
    broken = migrations.Migration(SCHEMA_VERSION + 1, "broken",
                                  "ALTER TABLE datasets ADD COLUMN extra VARCHAR; SELECT nope;")
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", broken.version)
    with pytest.raises(duckdb.Error):
        Database(path)
    with duckdb.connect(str(path)) as con:
        assert schema_version(con) == SCHEMA_VERSION
        columns = {row[0] for row in con.execute("DESCRIBE datasets").fetchall()}
    assert "extra" not in columns
