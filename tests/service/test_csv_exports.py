"""CSV exports neutralise formula injection (OWASP): over HTTP and from `slick curate`, for the
user's cells, column names and a chosen abstention; JSON and Parquet stay exact."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from service_helpers import QUESTIONS, result_table, start_probe, upload, wait_status
from slick_curator.cli import cli

FORMULAS = ["=1+2", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", "\t=1", "\r=1"]
ABSTAIN = '=HYPERLINK("http://x","click")'


@pytest.fixture(scope="module")
def hostile_probe(client):
    rows = []  # every third question is Unknown to the fake model: those get relabelled
    for i, q in enumerate(QUESTIONS[:12]):
        rows.append({"question": q["question"], "answer": q["answers"][0],
                     "relation": q["relation"], "note": FORMULAS[i % len(FORMULAS)],
                     "=col": "-x", "n": -5, "safe": " =leading space is text"})
    dataset = upload(client, rows, name="formulas.jsonl")
    probe = start_probe(client, dataset["id"], k_shot=2)
    return wait_status(client, probe["id"], "succeeded")["id"]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def assert_neutralised(rows: list[list[str]]) -> None:
    header, body = rows[0], rows[1:]
    assert "'=col" in header and "=col" not in header
    notes = [r[header.index("note")] for r in body]
    assert notes and all(n.startswith("'") and n[1:] in FORMULAS for n in notes), notes
    assert {r[header.index("'=col")] for r in body} == {"'-x"}
    assert {r[header.index("n")] for r in body} == {"-5"}  # a number is no formula
    assert {r[header.index("safe")] for r in body} == {" =leading space is text"}
    number = header.index("n")
    for row in body:
        for i, cell in enumerate(row):
            assert i == number or not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_curated_csv_over_http_neutralises_cells_and_abstention(client, hostile_probe):
    response = client.get(f"/v1/probes/{hostile_probe}/curated",
                          params={"format": "csv", "policy": "relabel", "abstention": ABSTAIN})
    assert response.status_code == 200, response.text
    rows = csv_rows(response.text)
    assert_neutralised(rows)
    header = rows[0]
    answers = [r[header.index("answer")] for r in rows[1:]
               if r[header.index("slick_action")] == "relabel"]
    assert answers and set(answers) == {"'" + ABSTAIN}, answers


def test_curated_json_and_parquet_stay_exact(client, hostile_probe):
    params = {"policy": "relabel", "abstention": ABSTAIN, "all_rows": "true"}
    lines = client.get(f"/v1/probes/{hostile_probe}/curated",
                       params={**params, "format": "jsonl"})
    records = [json.loads(x) for x in lines.text.splitlines()]
    assert {r["note"] for r in records} == set(FORMULAS)
    assert {r["=col"] for r in records} == {"-x"}
    relabelled = [r for r in records if r["slick_action"] == "relabel"]
    assert relabelled and all(r["answer"] == ABSTAIN for r in relabelled)
    table = pq.read_table(io.BytesIO(client.get(f"/v1/probes/{hostile_probe}/curated",
                                                params={**params, "format": "parquet"}).content))
    assert set(table.column("note").to_pylist()) == set(FORMULAS)


def test_slick_curate_to_csv_neutralises_too(client, hostile_probe, tmp_path):
    annotated = tmp_path / "formulas.parquet"
    pq.write_table(result_table(client, hostile_probe), annotated)
    out = tmp_path / "x.csv"
    result = CliRunner().invoke(cli, ["curate", str(annotated), "--policy", "relabel",
                                      "--abstention", ABSTAIN, "--all-rows", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = csv_rows(f.read())
    assert_neutralised(rows)
    header = rows[0]
    relabelled = [r for r in rows[1:] if r[header.index("slick_action")] == "relabel"]
    assert relabelled and {r[header.index("answer")] for r in relabelled} == {"'" + ABSTAIN}
