"""The HTML report in headless Chromium: it loads from a file with no console errors and no
network requests, the charts are there and drawn, user text stays text, and a PNG of the
whole page is captured (set SLICK_REPORT_SCREENSHOT_DIR to keep it)."""

from __future__ import annotations

import os
import shutil
import struct

import pytest
from annotated_helpers import probe_file, qa_rows, script_for, write_input
from click.testing import CliRunner
from slick_curator.cli import cli

XSS = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'
CHARTS = ["categories", "groups", "p-greedy", "p-sample", "policy"]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    rows = qa_rows(48, groups=("P36", "P17", "P19"))
    script = script_for(rows)
    rows[3]["question"] = XSS  # an Unknown row, shown among the examples
    rows[5]["relation"] = rows[8]["relation"] = XSS  # a group name, shown in charts
    rows.append({"id": "broken", "question": XSS, "relation": "P36"})  # skipped: no answer
    annotated = probe_file(write_input(tmp / "train.jsonl", rows), **script)
    out = tmp / "report.html"
    result = CliRunner().invoke(cli, ["report", str(annotated), "-o", str(out),
                                      "--examples", "8", "--policy", "relabel",
                                      "--max-share", "0.4"])
    assert result.exit_code == 0, result.output
    return out


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_report_renders_in_chromium(chromium, report_html, tmp_path):
    session, page = chromium.load(report_html.as_uri())
    assert page.errors == []
    assert page.requests == [report_html.as_uri()]  # nothing fetched but the page itself

    charts = chromium.evaluate(session, """[...document.querySelectorAll('svg.chart')].map(
        s => ({name: s.dataset.chart, bars: s.querySelectorAll('rect.bar').length,
               width: s.getBoundingClientRect().width,
               height: s.getBoundingClientRect().height}))""")
    assert [c["name"] for c in charts] == CHARTS
    assert all(c["bars"] > 0 and c["width"] > 300 and c["height"] > 60 for c in charts), charts

    page_state = chromium.evaluate(session, """({
        xss: window.__xss === undefined ? null : window.__xss,
        scripts: document.scripts.length, images: document.images.length,
        text: document.body.innerText,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        title: document.title})""")
    assert page_state["xss"] is None and page_state["scripts"] == 0
    assert page_state["images"] == 0
    assert '<img src=x onerror="window.__xss = 1">' in page_state["text"]
    assert "48 rows in" not in page_state["text"]  # 49 with the skipped one
    assert "49 rows in = " in page_state["text"] and "relabelled" in page_state["text"]
    assert page_state["overflow"] <= 0 and page_state["title"].startswith("SliCK report")

    shot = tmp_path / "report.png"
    chromium.screenshot(session, shot)
    width, height = png_size(shot)
    assert width == 1280 and height > 2500
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    keep = os.environ.get("SLICK_REPORT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, os.path.join(keep, "report.png"))


def test_report_fits_a_narrow_window(chromium, report_html):
    session, page = chromium.load(report_html.as_uri(), width=760)
    assert page.errors == []
    overflow = chromium.evaluate(
        session, "document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
