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


def test_the_readme_library_example_runs(model_path):
    code = readme_example()
    namespace: dict = {}
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
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
