"""Curated exports through the real pipeline: each input format round-trips (chat rows stay
chat rows with the final assistant turn replaced), extra columns survive, and the CLI."""

from __future__ import annotations

import csv
import gzip
import json

import pyarrow.parquet as pq
import pytest
from annotated_helpers import probe_file, qa_rows, relabelled_jsonl, script_for, write_input
from click.testing import CliRunner
from slick_client.schemas import CurationParams
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile, curate, write_export
from slick_curator.probing.reading import ColumnMap

IDK = "I don't know."


def chat_rows(n=12):
    rows = []
    for i, r in enumerate(qa_rows(n)):
        user = {"role": "user", "content": r["question"]}
        if i % 3 == 0:
            user["name"] = "alice"  # a field only some messages have
        rows.append({"messages": [{"role": "system", "content": "Be brief."}, user,
                                  {"role": "assistant", "content": r["answer"]}],
                     "relation": r["relation"], "meta": {"n": i}})
    rows.append({"messages": [{"role": "user", "content": "no answer turn"}],
                 "relation": "P36", "meta": {"n": 99}})
    return rows


def unknown_rows(rows):
    return {i for i in range(len(rows)) if i % 4 == 3}  # see script_for


def test_chat_jsonl_round_trip_with_relabel(tmp_path):
    rows = chat_rows()
    got, curated, data = relabelled_jsonl(tmp_path / "chat.jsonl", rows, script_for(qa_rows(12)),
                                          messages_column="messages")
    assert (data.format, data.kind) == ("jsonl", "chat")
    expected = []
    for i, row in enumerate(rows[:-1]):  # the last row is skipped (no assistant turn)
        if i in unknown_rows(rows):
            row = {**row, "messages": [*row["messages"][:-1],
                                       {"role": "assistant", "content": IDK}]}
        expected.append(row)
    assert got == expected
    s = curated.summary
    assert (s.rows, s.kept, s.relabelled, s.dropped) == (13, 9, 3, 1)
    assert s.rows == s.kept + s.relabelled + s.dropped == len(got) + s.dropped


def test_json_list_stays_a_json_list_with_every_column(tmp_path):
    rows = qa_rows(12)
    annotated = probe_file(write_input(tmp_path / "train.json", rows), **script_for(rows))
    curated = curate(AnnotatedFile.read(annotated))
    out = tmp_path / "train.curated.json"
    write_export(curated.output(), out, "json")
    got = json.loads(out.read_text())
    assert [r["id"] for r in got] == [r["id"] for i, r in enumerate(rows) if i % 4 != 3]
    assert set(got[0]) >= {"id", "question", "answer", "relation", "extra", "slick_category",
                           "slick_action", "slick_reason"}
    assert got[0]["extra"] == 0 and got[0]["slick_action"] == "keep"


def test_csv_round_trip_keeps_text_and_relabels_alias_lists(tmp_path):
    rows = [{"id": f"{i:03d}", "question": r["question"], "answers": [r["answer"], "alt"],
             "relation": r["relation"], "note": "a, \"quoted\" note"}
            for i, r in enumerate(qa_rows(12))]
    script = script_for(rows, answer="id")  # never right: everything Unknown …
    script["greedy"] = {r["question"]: r["answers"][0] for r in rows[:6]}  # … but 6 rows
    annotated = probe_file(write_input(tmp_path / "train.csv", rows), **script)
    curated = curate(AnnotatedFile.read(annotated), CurationParams(policy="relabel"))
    out = tmp_path / "out.csv"
    write_export(curated.output(drop_annotations=True), out, "csv")
    with (tmp_path / "train.csv").open(newline="") as f:
        original = list(csv.DictReader(f))
    with out.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert got[:6] == original[:6]  # id "000" stays text, quotes and commas survive
    assert [r["answers"] for r in got[6:]] == [json.dumps([IDK])] * 6
    assert [r["question"] for r in got[6:]] == [r["question"] for r in original[6:]]


def test_parquet_stays_parquet_with_the_same_types(tmp_path):
    rows = qa_rows(12)
    source = write_input(tmp_path / "train.parquet", rows)
    annotated = probe_file(source, **script_for(rows))
    curated = curate(AnnotatedFile.read(annotated), CurationParams(policy="relabel"))
    out = tmp_path / "out.parquet"
    write_export(curated.output(drop_annotations=True), out, "parquet")
    table = pq.read_table(out)
    assert table.schema.remove_metadata().equals(pq.read_schema(source).remove_metadata())
    answers = table.column("answer").to_pylist()
    assert [a for i, a in enumerate(answers) if i % 4 == 3] == [IDK] * 3
    assert answers[0] == "City 0"


def test_relabel_uses_the_recorded_column_map(tmp_path):
    rows = [{"q": r["question"], "gold": r["answer"], "answer": "not the gold"}
            for r in qa_rows(8)]
    data = write_input(tmp_path / "custom.jsonl", rows)
    annotated = probe_file(data, columns=ColumnMap(question="q", answer="gold"),
                           greedy={r["q"]: r["gold"] for r in rows[:4]})
    table = curate(AnnotatedFile.read(annotated), CurationParams(policy="relabel")).output()
    assert table.column("gold").to_pylist() == ["City 0", "City 1", "City 2", "City 3"] + [IDK] * 4
    assert table.column("answer").to_pylist() == ["not the gold"] * 8


@pytest.fixture
def annotated_jsonl(tmp_path):
    rows = qa_rows(12)
    rows.append({"id": "bad", "question": "no answer", "relation": "P36"})
    return probe_file(write_input(tmp_path / "train.jsonl", rows), **script_for(qa_rows(12)))


def test_cli_curate_format_from_the_output_suffix(annotated_jsonl, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["curate", str(annotated_jsonl), "--policy", "filter", "-o",
                                 str(tmp_path / "train.curated.jsonl")])
    assert result.exit_code == 0, result.output
    assert "13 rows in = 9 kept + 4 dropped + 0 relabelled" in result.output
    assert "skipped: answer" in result.output
    assert len((tmp_path / "train.curated.jsonl").read_text().splitlines()) == 9

    result = runner.invoke(cli, ["curate", str(annotated_jsonl), "--policy", "relabel",
                                 "--drop-annotations", "-o", str(tmp_path / "out.parquet.gz")])
    assert result.exit_code == 0, result.output
    with gzip.open(tmp_path / "out.parquet.gz") as f:
        table = pq.read_table(f)
    assert table.num_rows == 12 and "slick_action" not in table.column_names

    result = runner.invoke(cli, ["curate", str(annotated_jsonl), "--all-rows"])
    assert result.exit_code == 0, result.output
    default = tmp_path / "train.curated.jsonl"  # the input's format, beside the input
    lines = [json.loads(x) for x in default.read_text().splitlines()]
    assert len(lines) == 13 and lines[-1]["slick_reason"].startswith("skipped: answer")


@pytest.mark.parametrize(("args", "message"), [
    (["--cap", "Famous=0.5"], "--cap: unknown category 'Famous'"),
    (["--max-share", "2"], "--max-share: Input should be less than or equal to 1"),
    (["-o", "out.txt"], "cannot tell the format"),
])
def test_cli_curate_reports_bad_options(annotated_jsonl, tmp_path, args, message):
    result = CliRunner().invoke(cli, ["curate", str(annotated_jsonl), *args])
    assert result.exit_code == 2 and message in result.output


def test_cli_curate_refuses_a_plain_parquet(tmp_path):
    plain = write_input(tmp_path / "plain.parquet", qa_rows(3))
    result = CliRunner().invoke(cli, ["curate", str(plain)])
    assert result.exit_code == 2 and "not an annotated slick-curator file" in result.output


def test_chat_rows_in_csv_stay_json_text(tmp_path):
    rows = [{"messages": [{"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["answer"]}], "id": r["id"]}
            for r in qa_rows(8)]
    annotated = probe_file(write_input(tmp_path / "chat.csv", rows), **script_for(qa_rows(8)))
    curated = curate(AnnotatedFile.read(annotated), CurationParams(policy="relabel"))
    out = tmp_path / "out.csv"
    write_export(curated.output(drop_annotations=True), out, "csv")
    with out.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert [json.loads(r["messages"])[-1]["content"] for r in got] == [
        "City 0", "City 1", "City 2", IDK, "City 4", "City 5", "City 6", IDK]
    assert json.loads(got[3]["messages"])[0] == rows[3]["messages"][0]
