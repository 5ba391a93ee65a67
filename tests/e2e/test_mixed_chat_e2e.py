"""The mixed chat dataset of issue 12 (short capitals, free-form famous facts, a made-up
company, small talk) on the real SmolLM2-135M: through a real `slick serve` with the Python
client, and through `slick probe`, with the same facts and categories."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from serve_support import Server
from slick_client import Client

pytestmark = pytest.mark.model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mixed_chat.jsonl"
# Small but real: the paper's protocol with fewer prompts and samples.
PROBE = {"prompt_format": "chat", "n_prompts": 3, "n_samples": 4, "k_shot": 2}
FACT_FIELDS = ("text", "start", "end", "label", "category", "greedy_answers")


@pytest.fixture(scope="module")
def service_run(tmp_path_factory, model_path):
    work = tmp_path_factory.mktemp("mixed")
    server = Server(work / "data", work / "server.log", shard_size=4)
    try:
        server.wait_ready()
        with Client(server.url) as client:
            dataset = client.datasets.upload(EXAMPLE)
            job = client.probes.create(dataset.id, **PROBE)
            job = client.probes.wait(job.id, progress=False, timeout=900)
            assert job.status == "succeeded", server.tail()
            table = client.probes.result(job.id)
            trimmed = client.probes.curated(job.id, policy="trim")
            report = client.probes.report_json(job.id, policy="trim")
        return table.to_pylist(), trimmed, report
    finally:
        server.stop()


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


def test_every_row_gets_a_meaningful_category(service_run):
    rows, _, _ = service_run
    rows = by_id(rows)
    for row_id, row in rows.items():
        assert row["slick_answer_kind"] == row_id.split("-")[0], row_id
    # Short rows draw short exemplars, so the model answers with a name: France is known.
    assert rows["short-01"]["slick_exemplar_pool"] == "all [short-form]"
    assert rows["short-01"]["slick_category"] in ("HighlyKnown", "MaybeKnown")
    # Free-form rows are probed fact by fact, with offsets into the assistant turn.
    facts = [f for r in rows.values() for f in r["slick_facts"] or []]
    assert len(facts) >= 12
    for row in rows.values():
        answer = row["messages"][-1]["content"]
        for fact in row["slick_facts"] or []:
            assert answer[fact["start"] : fact["end"]] == fact["text"]
    known = [f for f in facts if f["category"] != "Unknown"]
    assert len(known) >= 3  # Shakespeare, Paris, Armstrong, … are no news to this model
    assert {"William Shakespeare", "Elsbeth Quarrington"} <= {f["text"] for f in facts}
    # A company that does not exist: its founder is Unknown, and so is the row.
    made_up = {f["text"]: f["category"] for f in rows["long-07"]["slick_facts"]}
    assert made_up["Elsbeth Quarrington"] == "Unknown"
    assert rows["long-07"]["slick_category"] == "Unknown"
    assert rows["long-07"]["slick_recommendation"] == "drop"
    # Small talk has no fact to probe: kept.
    assert rows["long-08"]["slick_status"] == "no_facts"
    assert rows["long-08"]["slick_recommendation"] == "keep"
    categories = {r["slick_category"] for r in rows.values()}
    assert "Unknown" in categories and len(categories - {None, "Unknown"}) >= 1


def test_trim_keeps_the_known_sentences_in_the_chat_shape(service_run):
    rows, trimmed, report = service_run
    rows = by_id(rows)
    curated = by_id(trimmed.records())
    assert trimmed.rows == len(rows)
    assert "long-08" in curated  # no_facts: kept
    assert "long-07" not in curated  # its only sentence holds an Unknown fact
    for row_id, row in curated.items():
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        original = rows[row_id]["messages"][-1]["content"]
        assert row["messages"][-1]["content"] in original or row_id.startswith("long")
    assert report.facts is not None and report.facts.facts >= 12 and report.facts.no_facts == 1


def test_the_cli_gives_the_service_facts(service_run, tmp_path):
    from click.testing import CliRunner
    from slick_curator.cli import cli

    rows, _, _ = service_run
    out = tmp_path / "cli.parquet"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in PROBE.items()]
    result = CliRunner().invoke(cli, ["probe", str(EXAMPLE), "-o", str(out), *flags,
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    cli_rows = by_id(pq.read_table(out).to_pylist())
    for row_id, row in by_id(rows).items():
        assert cli_rows[row_id]["slick_category"] == row["slick_category"], row_id
        cli_facts = [{k: f[k] for k in FACT_FIELDS} for f in cli_rows[row_id]["slick_facts"] or []]
        facts = [{k: f[k] for k in FACT_FIELDS} for f in row["slick_facts"] or []]
        assert cli_facts == facts, json.dumps([row_id, cli_facts, facts])[:2000]
