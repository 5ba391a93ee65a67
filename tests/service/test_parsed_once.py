"""A dataset is parsed once, at upload: probes read its parsed rows, never the file again."""

from __future__ import annotations

from service_helpers import (
    SMALL_PROBE,
    make_settings,
    result_table,
    running_app,
    start_probe,
    upload,
    wait_status,
)


def test_probes_read_the_rows_parsed_at_upload_not_the_file(tmp_path):
    settings = make_settings(tmp_path / "data")
    with running_app(settings) as client:
        dataset = upload(client)
        paths = settings.data_dir
        assert (paths / "parsed" / dataset["id"] / "meta.json").is_file()
        # The stored file no longer parses: a probe that re-read it would fail.
        (paths / "uploads" / dataset["id"]).write_bytes(b"\x00 not a dataset")
        job = wait_status(client, start_probe(client, dataset["id"], **SMALL_PROBE)["id"],
                          "succeeded", "failed")
        assert job["status"] == "succeeded", job["error"]
        assert result_table(client, job["id"]).num_rows == dataset["rows"]


def test_without_parsed_rows_the_file_is_read_as_before(tmp_path):
    settings = make_settings(tmp_path / "data")
    with running_app(settings) as client:
        dataset = upload(client)
        parsed = settings.data_dir / "parsed" / dataset["id"]
        for f in parsed.iterdir():  # as a dataset stored by a release before parsing once
            f.unlink()
        parsed.rmdir()
        job = wait_status(client, start_probe(client, dataset["id"], **SMALL_PROBE)["id"],
                          "succeeded", "failed")
        assert job["status"] == "succeeded", job["error"]
        (settings.data_dir / "uploads" / dataset["id"]).write_bytes(b"\x00 not a dataset")
        job = wait_status(client, start_probe(client, dataset["id"], **SMALL_PROBE)["id"],
                          "succeeded", "failed")
        assert job["status"] == "failed"  # the file was read: no parsed rows to fall back on


def test_parsed_rows_without_a_dataset_record_are_removed_on_start(tmp_path):
    settings = make_settings(tmp_path / "data")
    orphan = settings.data_dir / "parsed" / "ds_0123456789abcdef01234567"
    orphan.mkdir(parents=True)
    (orphan / "meta.json").write_text("{}")
    with running_app(settings):
        assert not orphan.exists()
