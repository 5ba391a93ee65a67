"""Report data and HTML (escaping, self-containment), and the `slick report` / `slick query`
commands, over annotated files from the real pipeline."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from annotated_helpers import (
    ScriptedEngine,
    probe_file,
    qa_rows,
    script_for,
    synthetic,
    write_input,
)
from click.testing import CliRunner
from slick_client.schemas import CurationParams, ReportPublic
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile
from slick_curator.probing.schema import METADATA_KEY, read_metadata
from slick_curator.reporting import build_report, exemplar_sets, render_html
from slick_curator.reporting.data import BINS, bin_of
from slick_curator.reporting.exemplar_sets import exemplar_set_health, is_outlier

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
    assert body["exemplar_sets_total"] == len(body["exemplar_sets"]) > 0
    assert {s["group"] for s in body["exemplar_sets"]} == {"P36", "P17",
                                                          '<b onmouseover="alert(1)">P36</b>'}
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


# -- exemplar-set health ----------------------------------------------------------------------


class BadExemplar(ScriptedEngine):
    """Right on every greedy prompt, except those whose exemplars include `bad` (a question):
    they answer in the wrong format, as a set that teaches "City, State" does."""

    def __init__(self, bad: str, **kwargs):
        super().__init__(**kwargs)
        self.bad = f"Q: {bad}\nA: "

    def generate(self, requests):
        out = super().generate(requests)
        for request, result in zip(requests, out, strict=True):
            shots = request.prompt.rsplit("Q: ", 1)[0]  # the exemplars, not the row's question
            if request.params.greedy and self.bad in shots:
                result.texts[0] = " City, State"
        return out


def test_a_bad_exemplar_set_is_flagged_and_the_others_are_not(tmp_path):
    rows = qa_rows(60, groups=("P36",))
    data = write_input(tmp_path / "train.jsonl", rows)
    greedy = {r["question"]: r["answer"] for r in rows}
    clean = probe_file(data, tmp_path / "clean.parquet", n_prompts=4, greedy=greedy)
    sets = read_metadata(clean)["exemplar_sets"]["P36"]  # fixed by (pool, group, seed)
    assert len(sets) > 4 and all(len(s) == 1 for s in sets)  # 4 main sets, then spares
    assert build_report(AnnotatedFile.read(clean)).exemplar_sets_flagged == 0
    bad_question = next(r["question"] for r in rows if r["id"] == sets[1][0])

    probed = probe_file(data, tmp_path / "bad.parquet", n_prompts=4,
                        engine=BadExemplar(bad_question, greedy=greedy))
    report = build_report(AnnotatedFile.read(probed))
    by_index = {s.index: s for s in report.exemplar_sets}
    assert report.exemplar_sets_total == len(by_index) == len(sets)
    assert report.exemplar_sets_flagged == 1
    bad = by_index[1]
    assert bad.outlier and bad.exemplar_ids == sets[1] and not bad.spare
    assert (bad.correct, bad.prompts, bad.rows) == (0, 59, 59)  # row r-bad uses a spare
    assert bad.rest_accuracy == 1.0 and bad.z is not None and bad.z < -10
    assert bad.reason.startswith("0.0% correct vs 100.0%") and "below" in bad.reason
    # The bad set leaves the reference: the good sets are not outliers "above" it.
    assert [s.index for s in report.exemplar_sets if s.outlier] == [1]
    assert all(s.accuracy == 1.0 and s.rest_accuracy == 1.0 for i, s in by_index.items()
               if i != 1)
    assert [s.spare for s in report.exemplar_sets] == [i >= 4 for i in sorted(by_index)]
    assert ReportPublic.model_validate_json(report.model_dump_json()) == report

    html = render_html(report)
    assert '<section id="exemplar-sets">' in html and 'href="#exemplar-sets"' in html
    assert html.count('<tr class="outlier">') == 1
    assert "1 exemplar set flagged as outlier</b>: P36 set 1 (0.0% correct vs 100.0%)" in html
    assert html.index('id="warnings"') < html.index('id="overview"')


def with_exemplar_sets(table: pa.Table, sets, correct, *, exemplar_sets=None,
                       warnings=(), n_prompts=10) -> AnnotatedFile:
    """`table` (from `synthetic`) with per-prompt set indices and greedy correctness."""
    table = table.append_column("slick_greedy_correct", pa.array(
        [None if c is None else [bool(x) for x in c] for c in correct], pa.list_(pa.bool_())))
    table = table.append_column("slick_exemplar_sets", pa.array(sets, pa.list_(pa.int32())))
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    meta.update(params={"n_prompts": n_prompts, "k_shot": 4}, warnings=list(warnings),
                exemplar_sets=exemplar_sets or {})
    return AnnotatedFile.from_table(
        table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}))


def main_job(n: int = 200, correct_per_set=(60, 55, 51, 70, 11, 65, 58, 62, 68, 7),
             group: str = "P36", seed: int = 0):
    """n rows, one prompt per main set each, `correct_per_set[i]` of them right on set i."""
    rng = np.random.default_rng(seed)
    correct = np.zeros((n, len(correct_per_set)), bool)
    for i, k in enumerate(correct_per_set):
        correct[rng.choice(n, k, replace=False), i] = True
    categories = ["HighlyKnown" if c.all() else "MaybeKnown" if c.any() else "Unknown"
                  for c in correct]
    return categories, [list(range(len(correct_per_set)))] * n, correct.tolist()


def test_the_readme_main_job_flags_prompts_4_and_9_only():
    categories, sets, correct = main_job()
    ids = {"P36": [[f"r{4 * i + j}" for j in range(4)] for i in range(10)]}
    warning = "group 'P36' looks like 2 question templates ('<where> …' (60%), …)"
    annotated = with_exemplar_sets(synthetic(categories, groups=["P36"] * 200), sets, correct,
                                   exemplar_sets=ids, warnings=[warning])
    report = build_report(annotated)
    assert report.warnings == [warning]
    assert [s.index for s in report.exemplar_sets] == list(range(10))
    assert [s.correct for s in report.exemplar_sets] == [60, 55, 51, 70, 11, 65, 58, 62, 68, 7]
    assert {s.index for s in report.exemplar_sets if s.outlier} == {4, 9}
    assert report.exemplar_sets_flagged == 2 and report.exemplar_sets_total == 10
    assert report.exemplar_sets_min_z == 3.29  # Bonferroni for 1% over 10 sets
    four = report.exemplar_sets[4]
    assert four.exemplar_ids == ["r16", "r17", "r18", "r19"] and four.prompts == 200
    # 4 is compared with the unflagged sets: all but 9 (the most extreme, flagged first).
    assert four.rest_prompts == 1600 and four.rest_correct == 489
    assert report.exemplar_sets[3].rest_prompts == 1400  # 70/200 is not "above" the rest

    html = render_html(report)
    assert html.count('<tr class="outlier">') == 2
    assert "Probe warning: group &#39;P36&#39; looks like 2 question templates" in html
    assert "&lt;where&gt;" in html and "<where>" not in html
    assert "r16, r17, r18, r19" in html


def test_the_outlier_rule_needs_the_gap_the_z_and_enough_answers():
    assert is_outlier(11, 200, 487, 1800)  # the README's set 4
    assert not is_outlier(70, 200, 428, 1800)  # 11 points above: not an outlier
    # A huge group: z = -6.1, but 10 points is not worth a flag.
    assert not is_outlier(500, 1000, 5400, 9000)
    # A tiny group: 50 points apart, z = -1.8 — noise.
    assert not is_outlier(1, 4, 9, 12)
    # A spare used by 4 rows, one wrong, against 177 of 177: 25 points and z = -6.8, but
    # 0.09 wrong answers expected on the spare — the z-test says nothing here.
    assert not is_outlier(3, 4, 177, 177)
    assert is_outlier(0, 59, 181, 181) and is_outlier(59, 59, 20, 181)  # both directions
    assert not is_outlier(0, 10, 0, 90)  # no variance, no difference


def test_small_groups_and_sets_that_repeat_are_not_flagged_on_noise():
    # 5 rows, 3 sets repeated over 10 prompts; set 2 misses 3 of its 15 prompts.
    sets = [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]] * 5
    correct = [[True] * 10 for _ in range(5)]
    for row in range(3):
        correct[row][2] = False
    annotated = with_exemplar_sets(synthetic(["MaybeKnown"] * 3 + ["HighlyKnown"] * 2,
                                             groups=["small"] * 5), sets, correct)
    report = build_report(annotated)
    assert [(s.index, s.rows, s.prompts, s.correct) for s in report.exemplar_sets] == [
        (0, 5, 20, 20), (1, 5, 15, 15), (2, 5, 15, 12)]
    assert report.exemplar_sets_flagged == 0
    assert all(s.exemplar_ids == [] for s in report.exemplar_sets)  # no ids recorded


def test_a_huge_file_lists_every_flagged_set_and_the_largest_groups():
    categories, sets, correct, groups = [], [], [], []
    for g, n in enumerate((300, 250, 200, 150, 100)):
        per_set = [60] * 10 if g != 3 else [60] * 9 + [2]  # group 3's set 9 is bad
        c, s, k = main_job(n, [min(x, n) for x in per_set], seed=g)
        categories += c
        sets += s
        correct += k
        groups += [f"g{g}"] * n
    categories.append(None)  # a skipped row: no prompts
    groups.append("g0")
    sets.append(None)
    correct.append(None)
    table = synthetic(categories, groups=groups)
    annotated = with_exemplar_sets(table, sets, correct)
    report = build_report(annotated)
    assert report.exemplar_sets_total == len(report.exemplar_sets) == 50
    assert [(s.group, s.index) for s in report.exemplar_sets if s.outlier] == [("g3", 9)]
    assert report.exemplar_sets[0].group == "g3"  # the group with a flagged set first
    assert sum(s.prompts for s in report.exemplar_sets if s.group == "g0") == 3000

    health = exemplar_set_health(annotated.table, list(range(1000)), annotated.metadata,
                                 limit=25)
    assert (health.total, health.flagged) == (50, 1)
    listed = [(s.group, s.index) for s in health.sets]
    assert ("g3", 9) in listed
    # The flagged set, then whole groups, largest first, while they fit: g0 and g1.
    assert {g for g, _ in listed} == {"g3", "g0", "g1"} and len(listed) == 21
    html = render_html(build_report(annotated).model_copy(update={
        "exemplar_sets": health.sets}))
    assert "21 of 50 sets are listed" in html and "1 of its 10 sets listed" in html


def test_noise_in_many_groups_flags_nothing(monkeypatch):
    # 2,000 groups of 25 rows, every prompt right with probability 0.4, independently: a
    # plain |z| > 3 flags dozens of the 20,000 sets; the file-wide bound flags none.
    rng = np.random.default_rng(1)
    n, groups = 50_000, 2_000
    correct = (rng.random((n, 10)) < 0.4).tolist()
    table = synthetic(["MaybeKnown"] * n, groups=[f"g{i % groups}" for i in range(n)])
    table = table.append_column("slick_greedy_correct", pa.array(correct, pa.list_(pa.bool_())))
    table = table.append_column("slick_exemplar_sets",
                                pa.array([list(range(10))] * n, pa.list_(pa.int32())))
    meta = {"params": {"n_prompts": 10}}
    health = exemplar_set_health(table, list(range(n)), meta)
    assert (health.total, health.flagged, len(health.sets)) == (20_000, 0, 200)
    assert health.min_z == 5.03
    assert all(s.rows == s.prompts == 25 for s in health.sets)
    monkeypatch.setattr(exemplar_sets, "z_threshold", lambda tests: 3.0)
    assert exemplar_set_health(table, list(range(n)), meta).flagged > 20


def test_a_file_without_exemplar_sets_renders_without_the_section():
    old = AnnotatedFile.from_table(synthetic(["HighlyKnown", "Unknown", None]))
    report = build_report(old)
    assert report.exemplar_sets == [] and report.warnings == []
    assert (report.exemplar_sets_total, report.exemplar_sets_flagged) == (0, 0)
    html = render_html(report)
    assert 'id="exemplar-sets"' not in html and 'id="warnings"' not in html
    assert 'data-chart="categories"' in html
    # k_shot = 0: every prompt's set is -1, so there is nothing to compare.
    zero = with_exemplar_sets(synthetic(["HighlyKnown"] * 3), [[-1, -1]] * 3,
                              [[True, True]] * 3, n_prompts=2)
    assert build_report(zero).exemplar_sets == []
