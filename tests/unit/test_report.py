"""Report data and HTML (escaping, self-containment), and the `slick report` / `slick query`
commands, over annotated files from the real pipeline."""

from __future__ import annotations

import json

import pytest
from annotated_helpers import probe_file, qa_rows, script_for, write_input
from click.testing import CliRunner
from slick_client.models import CurationParams, ReportPublic
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile
from slick_curator.report import build_report, render_html
from slick_curator.report.data import BINS, bin_of

HOSTILE = '<script>alert("q")</script>'


@pytest.fixture
def annotated(tmp_path):
    rows = qa_rows(16)
    script = script_for(rows)
    rows[3]["question"] = HOSTILE  # an Unknown row
    rows[0]["relation"] = rows[2]["relation"] = '<b onmouseover="alert(1)">P36</b>'
    rows.append({"id": "bad", "question": "<i>no answer</i>", "relation": "P17"})
    return probe_file(write_input(tmp_path / "train.jsonl", rows), **script)


def test_bins_have_exact_ends():
    assert BINS[0] == "0" and BINS[-1] == "1" and BINS[1] == "(0, 0.1]"
    assert [bin_of(v) for v in (0.0, 0.05, 0.1, 0.3, 0.30000000000000004, 0.95, 1.0)] == [
        0, 1, 1, 3, 3, 10, 11]


def test_report_numbers(annotated):
    report = build_report(AnnotatedFile.read(annotated), examples=2)
    assert (report.rows, report.probed, report.skipped) == (17, 16, 1)
    assert report.categories == {"HighlyKnown": 4, "MaybeKnown": 4, "WeaklyKnown": 4,
                                 "Unknown": 4}
    assert report.shares["Unknown"] == 0.25
    assert report.groups_total == 3 and sum(g.rows for g in report.groups) == 16
    assert report.p_greedy.counts["HighlyKnown"][-1] == 4
    assert report.p_greedy.counts["MaybeKnown"][5] == 4  # P_greedy 0.5
    # Adaptive mode: sampled only where no greedy answer was right, and WeaklyKnown rows
    # stop at their first correct sample; Unknown rows have an exact P_sample = 0.
    assert report.p_sample.missing == 12 and report.p_sample.counts["Unknown"][0] == 4
    assert report.curation.kept == 12 and report.curation.dropped == 5
    assert report.run.model == "fake-model" and report.run.params["n_prompts"] == 2
    assert report.run.dataset["format"] == "jsonl" and report.run.source == "train.jsonl"
    weak = report.examples["WeaklyKnown"]
    assert len(weak) == 2 and weak[0].gold == [f"City {weak[0].row}"]
    assert weak[0].greedy_answers == ["I don't know"] * 2 and weak[0].greedy_correct == [
        False, False]
    assert report.skipped_rows[0].error.startswith("answer: missing")
    assert ReportPublic.model_validate_json(report.model_dump_json()) == report


def test_report_examples_of_chat_rows(tmp_path):
    rows = [{"messages": [{"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["answer"]}]} for r in qa_rows(8)]
    annotated = probe_file(write_input(tmp_path / "chat.jsonl", rows),
                           **script_for(qa_rows(8)))
    report = build_report(AnnotatedFile.read(annotated), CurationParams(policy="relabel"))
    example = report.examples["HighlyKnown"][0]
    assert example.question == "What is the capital of land 0?" and example.gold == ["City 0"]
    assert report.curation.relabelled == 2


def test_html_escapes_every_user_text_and_fetches_nothing(annotated):
    data = AnnotatedFile.read(annotated)
    params = CurationParams(policy="relabel", abstention='</td><script>alert("a")</script>')
    html = render_html(build_report(data, params, examples=10))
    assert "<script" not in html and "<b " not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&#34;q&#34;)&lt;/script&gt;" in html
    assert "&lt;b onmouseover=&#34;alert(1)&#34;&gt;" in html  # group name, in charts too
    assert "&lt;/td&gt;&lt;script&gt;" in html
    assert "Content-Security-Policy" in html and "default-src &#39;none&#39;" in html
    assert "src=" not in html and "href=\"http" not in html and "@import" not in html
    for chart in ("categories", "groups", "p-greedy", "p-sample", "policy"):
        assert f'data-chart="{chart}"' in html


def test_cli_report_writes_html_and_json(annotated, tmp_path):
    out, data = tmp_path / "report.html", tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["report", str(annotated), "-o", str(out), "--json",
                                      str(data), "--policy", "relabel", "--examples", "1"])
    assert result.exit_code == 0, result.output
    assert "17 rows, 16 probed" in result.output
    assert out.read_text().startswith("<!doctype html>")
    body = json.loads(data.read_text())
    assert body["curation"]["relabelled"] == 4
    assert all(len(v) <= 1 for v in body["examples"].values())


def test_cli_query_table_csv_json_and_errors(annotated):
    runner = CliRunner()
    sql = ("SELECT slick_category, count(*) AS n FROM annotated WHERE slick_status = 'probed' "
           "GROUP BY 1 ORDER BY 1")
    table = runner.invoke(cli, ["query", str(annotated), sql])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split() == ["slick_category", "n"]
    assert "HighlyKnown     4" in table.output and "(4 rows)" in table.output
    as_csv = runner.invoke(cli, ["query", str(annotated), sql, "--format", "csv"])
    assert as_csv.output.splitlines()[:2] == ["slick_category,n", "HighlyKnown,4"]
    as_json = runner.invoke(cli, ["query", str(annotated),
                                  "SELECT id, slick_greedy_answers FROM annotated LIMIT 1",
                                  "--format", "json"])
    assert json.loads(as_json.output) == [{"id": "r0", "slick_greedy_answers": ["City 0"] * 2}]
    few = runner.invoke(cli, ["query", str(annotated), "SELECT * FROM annotated",
                              "--max-rows", "3"])
    assert "(3 rows, 14 more not shown" in few.output
    bad = runner.invoke(cli, ["query", str(annotated), "SELECT nope FROM annotated"])
    assert bad.exit_code == 2 and "nope" in bad.output
