"""Contract tests: the client against the real app in-process (real DuckDB store, real worker
process with the scripted fake engine, real Parquet), sync and async, every method."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from live_support import (
    KNOWN,
    N_ROWS,
    SAMPLED,
    LiveRunner,
    answer,
    question,
    rows,
    seq,
    write_jsonl,
)
from slick_client import DatasetPublic, DatasetsPublic, ProbePublic, ProbesPublic
from slick_client import _progress as progress_module


@pytest.fixture(autouse=True)
def sleeps():
    """Real sleeps here: a real job takes real time (overrides the conftest fixture)."""


FAST = {"n_prompts": 2, "k_shot": 1, "n_samples": 2}


def expected_category(i: int) -> str:
    if i < KNOWN:
        return "HighlyKnown"
    if i < KNOWN + SAMPLED:
        return "WeaklyKnown"
    return "Unknown"


def test_health_and_ready(lrun: LiveRunner):
    assert lrun(lambda c: c.health()) == {"status": "ok"}
    assert lrun(lambda c: c.ready()) is True


def test_upload_get_list(lrun: LiveRunner, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", rows())
    ds = lrun(lambda c: c.datasets.upload(path))
    assert isinstance(ds, DatasetPublic)
    assert (ds.name, ds.format, ds.kind) == ("train.jsonl", "jsonl", "qa")
    assert ds.rows == ds.valid_rows == N_ROWS and ds.errors == []
    assert ds.groups == {"all": N_ROWS}
    assert ds.size_bytes == path.stat().st_size
    assert set(ds.columns) == {"id", "question", "answer"}
    again = lrun(lambda c: c.datasets.upload(path))
    assert again.id == ds.id  # stored once per content
    assert lrun(lambda c: c.datasets.get(ds.id)) == ds
    page = lrun(lambda c: c.datasets.list(limit=1000))
    assert isinstance(page, DatasetsPublic)
    assert ds.id in [d.id for d in page.data] and page.count >= 1
    one = lrun(lambda c: c.datasets.list(limit=1, offset=0))
    assert len(one.data) == 1 and one.count == page.count


def _as_csv(path, items):
    pa_csv.write_csv(pa.Table.from_pylist(items), path)
    return path


def _as_parquet(path, items):
    pq.write_table(pa.Table.from_pylist(items), path)
    return path


SOURCES = {
    "jsonl.gz": lambda tmp: _gz(write_jsonl(tmp / "t.jsonl", rows()), tmp / "t.jsonl.gz"),
    "json": lambda tmp: (tmp / "t.json").write_text(json.dumps(rows())) and tmp / "t.json",
    "csv": lambda tmp: _as_csv(tmp / "t.csv", rows()),
    "parquet": lambda tmp: _as_parquet(tmp / "t.parquet", rows()),
    "pandas": lambda tmp: pd.DataFrame(rows()),
    "polars": lambda tmp: pl.DataFrame(rows()),
    "arrow": lambda tmp: pa.Table.from_pylist(rows()),
    "list": lambda tmp: rows(),
}


def _gz(src, dst):
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_upload_source_gives_the_same_rows(lrun: LiveRunner, tmp_path, kind):
    source = SOURCES[kind](tmp_path)
    ds = lrun(lambda c: c.datasets.upload(source))
    assert ds.rows == ds.valid_rows == N_ROWS, ds.errors
    assert ds.kind == "qa" and ds.errors == []


def test_gzip_upload_is_decoded_by_the_server(lrun: LiveRunner, tmp_path):
    plain = write_jsonl(tmp_path / "a.jsonl", rows())
    packed = _gz(plain, tmp_path / "a.jsonl.gz")
    ds_plain = lrun(lambda c: c.datasets.upload(plain))
    ds_packed = lrun(lambda c: c.datasets.upload(packed, name="a.jsonl"))
    assert ds_packed.sha256 == ds_plain.sha256  # hashed after decompression
    assert ds_packed.id == ds_plain.id


def test_entityquestions_relation_from_the_file_name(lrun: LiveRunner, eq_dir, tmp_path):
    items = json.loads((eq_dir / "test" / "P36.test.json").read_text())[:30]
    path = tmp_path / "P36.test.json"
    path.write_text(json.dumps(items))
    ds = lrun(lambda c: c.datasets.upload(path))
    assert ds.name == "P36.test.json" and ds.format == "json"
    assert ds.groups == {"P36": 30}


def test_upload_column_options(lrun: LiveRunner):
    items = [{"q": question(i), "a": answer(i), "rel": "P1" if i % 2 else "P2"}
             for i in range(10)]
    ds = lrun(lambda c: c.datasets.upload(items, question_column="q", answer_column="a",
                                          group_column="rel"))
    assert ds.valid_rows == 10 and ds.groups == {"P1": 5, "P2": 5}


def test_bad_rows_are_skipped_and_listed(lrun: LiveRunner):
    items = [*rows(6), {"id": "bad", "question": "no answer here"}]
    ds = lrun(lambda c: c.datasets.upload(items))
    assert ds.rows == 7 and ds.valid_rows == 6
    assert [e.row for e in ds.errors] == [6]
    assert ds.errors[0].reason


def test_probe_lifecycle(lrun: LiveRunner, tmp_path, capsys):
    ds = lrun(lambda c: c.datasets.upload(rows(), name="lifecycle.jsonl"))
    job = lrun(lambda c: c.probes.create(ds.id, mode="adaptive", **FAST))
    assert isinstance(job, ProbePublic)
    assert job.status in ("queued", "running") and job.dataset_id == ds.id
    assert (job.params.n_prompts, job.params.k_shot, job.params.n_samples) == (2, 1, 2)
    assert (job.engine, job.model) == ("fake", "fake")

    done = lrun(lambda c: c.probes.wait(job.id, progress=True))
    assert done.status == "succeeded"
    assert done.progress.done == done.progress.total == N_ROWS
    assert done.counts == {"HighlyKnown": KNOWN, "MaybeKnown": 0, "WeaklyKnown": SAMPLED,
                           "Unknown": N_ROWS - KNOWN - SAMPLED}
    err = capsys.readouterr().err
    assert f"probe {job.id}" in err and f"{N_ROWS}/{N_ROWS} rows" in err and "succeeded" in err

    assert lrun(lambda c: c.probes.get(job.id)).status == "succeeded"
    page = lrun(lambda c: c.probes.list(status="succeeded", limit=1000))
    assert isinstance(page, ProbesPublic) and job.id in [p.id for p in page.data]
    assert all(p.status == "succeeded" for p in page.data)
    assert lrun(lambda c: c.probes.list(limit=1)).count >= page.count

    table = lrun(lambda c: c.probes.result(job.id))
    assert isinstance(table, pa.Table) and table.num_rows == N_ROWS
    by_id = dict(zip(table.column("id").to_pylist(), table.column("slick_category").to_pylist(),
                     strict=True))
    assert by_id == {f"r{i}": expected_category(i) for i in range(N_ROWS)}

    out = lrun(lambda c: c.probes.result(job.id, path=tmp_path / "annotated.parquet"))
    assert out == tmp_path / "annotated.parquet"
    assert pq.read_table(out).equals(table)
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.parquet"]


def test_events_follow_a_job_to_its_end(lrun: LiveRunner):
    def follow(c):
        def collect_events(c, job):
            events = c.probes.events(job.id)
            if hasattr(events, "__aiter__"):
                async def gather():
                    return [e async for e in events]
                return gather()
            return list(events)

        return seq(lambda c, _: c.datasets.upload(rows(), name="events.jsonl"),
                   lambda c, ds: c.probes.create(ds.id, **FAST),
                   collect_events)(c)

    events = lrun(follow)
    assert events and events[-1].status == "succeeded"
    assert all(e.status in ("queued", "running") for e in events[:-1])
    done = [e.progress.done for e in events]
    assert done == sorted(done) and done[-1] == N_ROWS


def test_exemplars_and_model(lrun: LiveRunner):
    ds = lrun(lambda c: c.datasets.upload(rows(8), name="small.jsonl"))
    pool = lrun(lambda c: c.datasets.upload(rows(8, start=100), name="pool.jsonl"))
    job = lrun(lambda c: c.probes.create(ds.id, exemplar_dataset_id=pool.id, model="fake-2",
                                         **FAST))
    assert job.exemplar_dataset_id == pool.id and job.model == "fake-2"
    done = lrun(lambda c: c.probes.wait(job.id))
    assert done.status == "succeeded" and done.progress.done == 8
    table = lrun(lambda c: c.probes.result(job.id))
    exemplar_ids = {i for per_row in table.column("slick_exemplar_ids").to_pylist()
                    for prompt in per_row for i in prompt}
    assert exemplar_ids and exemplar_ids <= {f"r{i}" for i in range(100, 108)}


def test_ctrl_c_during_wait_leaves_the_real_job_running(live, monkeypatch, capsys):
    with live.client() as c:
        ds = c.datasets.upload(rows(), name="interrupt.jsonl")
        job = c.probes.create(ds.id, **FAST)

        def interrupt(self, job):
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(progress_module.ProgressBar, "update", interrupt)
            with pytest.raises(KeyboardInterrupt):
                c.probes.wait(job.id, progress=True)
        assert "keeps running on the server" in capsys.readouterr().err
        assert c.probes.wait(job.id).status == "succeeded"  # not cancelled
