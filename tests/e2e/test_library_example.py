"""The README's library example runs as written (real model, real data), from the repo root."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

ROOT = Path(__file__).parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    marker = text.index("<!-- library-example:")
    match = re.search(r"```python\n(.*?)```", text[marker:], re.DOTALL)
    assert match, "no python block after the library-example marker"
    return match.group(1)


def test_the_readme_library_example_runs(model_path, tmp_path):
    code = readme_example()
    namespace: dict = {}
    out = io.StringIO()
    # A working folder beside shared/, as the repo root is, so the files it writes stay here.
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    work = tmp_path / "work"
    work.mkdir()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README block
    finally:
        os.chdir(cwd)
    table = namespace["table"]
    assert table.num_rows == 12 and "slick_category" in table.column_names
    counts = namespace["counts"].to_pylist()
    assert sum(c["slick_category_count"] for c in counts) == 12
    assert str(counts) in out.getvalue()  # what the example prints
    unknown = sum(c["slick_category_count"] for c in counts if c["slick_category"] == "Unknown")
    train = namespace["train"]
    assert train.num_rows == 12 - unknown
    assert f"kept {train.num_rows} of 12 rows" in out.getvalue()
    assert "Unknown" not in train.column("slick_category").to_pylist()
    card = (work / "p36.curated.hub" / "README.md").read_text()
    assert card.startswith("---") and "smollm2" in card
    import datasets

    back = datasets.load_dataset(str(work / "p36.curated.hub"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    assert back.to_list() == train.to_pylist()
    page = (work / "p36.report.html").read_text()
    assert page == namespace["html"] and page.lstrip().lower().startswith("<!doctype html")
