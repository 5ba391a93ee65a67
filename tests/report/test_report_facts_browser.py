"""The fact view of the HTML report in headless Chromium: a file with free-form rows loads with
no console errors and no requests, every fact is a coloured mark whose text is the fact, and
user text in answers stays text."""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from freeform_helpers import H, M, U, W, Row, annotated_table
from slick_curator.cli import cli

XSS = '<img src=x onerror="window.__xss = 1">'
ROWS = [
    Row("Tell me about Kenya.", ["The capital of Kenya is Nairobi.",
                                 "Kenya had 47,564,296 people in 2019."],
        [("Nairobi", H, "GPE"), ("47,564,296", U, "CARDINAL"), ("2019", H, "DATE")]),
    Row(f"Who wrote {XSS}?", [f"The book {XSS} was written by Ann Lee.",
                              "Ann Lee was born in Perth."],
        [("Ann Lee", M, "PERSON"), ("Perth", W, "GPE")]),
    Row("Say hello.", ["Hello, nice to meet you!"], []),
    Row("What is the capital of Chile?", answer="Santiago"),
]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("facts")
    annotated = tmp / "chat.annotated.parquet"
    pq.write_table(annotated_table(ROWS), annotated)
    out = tmp / "report.html"
    result = CliRunner().invoke(cli, ["report", str(annotated), "-o", str(out),
                                      "--policy", "trim"])
    assert result.exit_code == 0, result.output
    return out


def test_facts_are_coloured_marks_and_user_text_stays_text(chromium, report_html, tmp_path):
    session, page = chromium.load(report_html.as_uri())
    assert page.errors == [] and page.requests == [report_html.as_uri()]
    state = chromium.evaluate(session, """({
        xss: window.__xss === undefined ? null : window.__xss,
        images: document.images.length,
        marks: [...document.querySelectorAll('#facts mark.fact')].map(m => ({
            text: m.textContent, cls: m.className,
            background: getComputedStyle(m).backgroundColor,
            width: m.getBoundingClientRect().width})),
        text: document.querySelector('#facts').innerText,
        overflow: document.documentElement.scrollWidth - window.innerWidth})""")
    assert state["xss"] is None and state["images"] == 0
    assert [(m["text"], m["cls"]) for m in state["marks"]] == [
        ("Ann Lee", "fact k-MaybeKnown"), ("Perth", "fact k-WeaklyKnown"),
        ("Nairobi", "fact k-HighlyKnown"), ("47,564,296", "fact k-Unknown"),
        ("2019", "fact k-HighlyKnown")]
    backgrounds = {m["cls"]: m["background"] for m in state["marks"]}
    assert len(set(backgrounds.values())) == 4  # one colour per category
    assert all(m["width"] > 0 for m in state["marks"])
    assert f"The book {XSS} was written by Ann Lee." in state["text"]
    assert "Facts by label" in state["text"] and "No facts found" in state["text"]
    assert state["overflow"] <= 0

    shot = tmp_path / "facts.png"
    chromium.screenshot(session, shot)
    keep = os.environ.get("SLICK_REPORT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, os.path.join(keep, "report-facts.png"))
