"""A Hugging Face `datasets.Dataset` goes up like a DataFrame, and a curated file comes back as
one when asked."""

from __future__ import annotations

import httpx
import pytest
from slick_client import CuratedFile
from slick_client._uploads import prepare_upload

datasets = pytest.importorskip("datasets")  # a dev dependency: present wherever tests run


def test_a_dataset_uploads_as_its_arrow_rows():
    rows = [{"question": f"q{i}?", "answers": [f"a{i}"]} for i in range(3)]
    with prepare_upload(datasets.Dataset.from_list(rows)) as body:
        import pyarrow.parquet as pq

        assert body.content_type == "application/vnd.apache.parquet"
        assert pq.read_table(body.path).to_pylist() == rows


def test_a_curated_file_comes_back_as_a_dataset():
    content = b'{"question": "q?", "answer": "a"}\n{"question": "r?", "answer": "b"}\n'
    response = httpx.Response(200, headers={"X-Slick-Format": "jsonl", "X-Slick-Rows": "2",
                                            "X-Slick-Kept": "2"}, content=content)
    curated = CuratedFile.from_response(response, content=content)
    ds = curated.dataset()
    assert isinstance(ds, datasets.Dataset) and ds.to_list() == curated.records()
