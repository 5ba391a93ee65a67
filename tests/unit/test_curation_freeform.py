"""Curation of free-form rows: no_facts rows kept by every policy, filter/relabel on the row
category, min_known_share, the trim policy (incl. its fallback to drop), and exports in chat
and QA shape that carry the trimmed answer. Tables come from the real schema (`annotate`)."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from freeform_helpers import H, M, Row, U, W, annotated_table
from slick_client.schemas import CurationParams
from slick_curator.cli import cli
from slick_curator.curation import AnnotatedFile, curate, decide, write_export
from slick_curator.curation.answers import probed_answers

ROWS = [
    # 0: one Unknown fact in the last sentence -> trimmable
    Row("Tell me about Kenya.", ["The capital of Kenya is Nairobi.",
                                 "Its largest port is Mombasa.",
                                 "Kenya had 47,564,296 people in 2019."],
        [("Nairobi", H, "GPE"), ("Mombasa", M, "GPE"), ("47,564,296", U, "CARDINAL"),
         ("2019", H, "DATE")]),
    # 1: Unknown fact in the first sentence, the next opens with "It" -> not trimmable
    Row("Tell me about Ankara.", ["Ankara was made the capital in 1923.",
                                  "It is in Central Anatolia."],
        [("1923", U, "DATE"), ("Central Anatolia", H, "LOC")]),
    # 2: a free-form answer without facts
    Row("Say hello.", ["Hello, nice to meet you!"], []),
    # 3: a short-form Unknown-free row (HighlyKnown)
    Row("What is the capital of Chile?", answer="Santiago"),
    # 4: every fact known
    Row("Tell me about Oslo.", ["Oslo is the capital of Norway."], [("Oslo", H, "GPE")]),
    # 5: WeaklyKnown + Unknown: share 1/2
    Row("Tell me about Perth.", ["Perth lies on the Swan River.", "Fremantle is its port."],
        [("Swan River", W, "LOC"), ("Fremantle", U, "GPE")]),
]
TRIMMED_KENYA = "The capital of Kenya is Nairobi. Its largest port is Mombasa."


def data(kind="chat", rows=ROWS, **kwargs):
    return AnnotatedFile.from_table(annotated_table(rows, kind=kind, **kwargs))


def decisions(policy="filter", **params):
    d = data()
    return decide(d.table, CurationParams(policy=policy, **params), answers=probed_answers(d))


def test_the_fixture_is_what_a_probe_writes():
    table = data().table
    assert table.column("slick_status").to_pylist() == ["probed", "probed", "no_facts",
                                                        "probed", "probed", "probed"]
    assert table.column("slick_category").to_pylist() == [U, U, None, H, H, U]
    assert table.column("slick_known_share").to_pylist()[:2] == [0.75, 0.5]


@pytest.mark.parametrize("policy", ["filter", "relabel", "keep", "trim"])
def test_no_facts_rows_are_kept_by_every_policy_and_say_why(policy):
    d = decisions(policy)
    assert d.actions[2] == "keep"
    assert d.reasons[2] == "kept: free-form answer with no fact to probe"
    summary = d.summary(CurationParams(policy=policy))
    assert summary.by_category["no_facts"]["keep"] == 1
    assert "skipped" not in summary.by_category


def test_filter_and_relabel_act_on_the_row_category_of_free_form_rows():
    assert decisions("filter").actions == ["drop", "drop", "keep", "keep", "keep", "drop"]
    assert decisions("relabel").actions == ["relabel", "relabel", "keep", "keep", "keep",
                                            "relabel"]
    reasons = decisions("filter").reasons
    assert reasons[0] == "unknown: Unknown (least-known fact)"
    assert reasons[4] == "known: HighlyKnown (least-known fact)"
    assert reasons[3] == "known: HighlyKnown"  # short-form rows as before
    # Stricter categories reach the facts too: Perth's WeaklyKnown fact, Kenya's MaybeKnown.
    strict = decisions("filter", unknown=("Unknown", "WeaklyKnown", "MaybeKnown"))
    assert strict.actions[4] == "keep" and strict.actions[0] == "drop"


def test_min_known_share_replaces_the_least_known_rule():
    half = decisions("filter", min_known_share=0.5)
    assert half.actions == ["keep", "keep", "keep", "keep", "keep", "keep"]
    assert half.reasons[0] == "known: known share >= 0.5"
    most = decisions("filter", min_known_share=0.8)
    assert most.actions == ["drop", "drop", "keep", "keep", "keep", "drop"]
    assert most.reasons[1] == "unknown: known share < 0.8"
    # The share counts facts known under `unknown`: with WeaklyKnown unknown too, Perth has 0.
    strict = decisions("filter", min_known_share=0.5, unknown=("Unknown", "WeaklyKnown"))
    assert strict.actions[5] == "drop" and strict.actions[0] == "keep"


def test_p_thresholds_judge_each_fact():
    d = decisions("filter", min_p_greedy=0.5)
    # Kenya: Mombasa has P_greedy 0.5 (kept), the Unknown fact 0; Oslo's fact 1.
    assert d.actions == ["drop", "drop", "keep", "keep", "keep", "drop"]
    assert d.reasons[0] == "unknown: a fact meets no threshold"
    assert d.reasons[4] == "known: every fact meets a threshold"


def test_trim_cuts_unknown_sentences_or_drops_the_row():
    d = decisions("trim")
    assert d.actions == ["trim", "drop", "keep", "keep", "keep", "trim"]
    assert d.trimmed[0].text == TRIMMED_KENYA
    assert d.trimmed[5].text == "Perth lies on the Swan River."
    assert d.reasons[0] == "trimmed: sentences with unknown facts dropped [1 of 3]"
    assert d.reasons[1] == ("unknown: Unknown (least-known fact); cannot trim: a kept "
                            "sentence refers back to a dropped one [It]")
    s = d.summary(CurationParams(policy="trim"))
    assert (s.rows, s.kept, s.dropped, s.relabelled, s.trimmed) == (6, 3, 1, 0, 2)
    assert s.rows == s.kept + s.dropped + s.relabelled + s.trimmed
    assert s.by_category[U] == {"keep": 0, "drop": 1, "relabel": 0, "trim": 2}
    assert s.reasons["trimmed: sentences with unknown facts dropped"] == 2


def test_trim_drops_short_form_unknown_rows_as_filter_does():
    rows = [Row("Capital of Peru?", answer="Lima"), *ROWS]
    table = annotated_table(rows, kind="qa")
    categories = table.column("slick_category").to_pylist()
    categories[0] = U
    table = table.set_column(table.column_names.index("slick_category"), "slick_category",
                             pa.array(categories, pa.string()))
    d = AnnotatedFile.from_table(table)
    out = decide(d.table, CurationParams(policy="trim"), answers=probed_answers(d))
    assert out.actions[0] == "drop" and out.reasons[0] == "unknown: Unknown"


def test_trim_needs_the_answers():
    with pytest.raises(ValueError, match="needs the rows' answers"):
        decide(data().table, CurationParams(policy="trim"))


def test_caps_count_no_facts_rows_in_the_output_without_capping_them():
    d = decisions("keep", caps={"Unknown": 0.4})
    # Kept: 3 Unknown, 2 HighlyKnown, 1 no_facts. 5 rows with 2 Unknown fit the cap (2 <= 2.0);
    # leaving the no_facts row out of the total would make it 3 rows with 1 Unknown.
    assert d.actions.count("drop") == 1 and d.actions[2] == "keep"
    assert not d.warnings


def test_chat_export_carries_the_trimmed_final_turn(tmp_path):
    curated = curate(data(), CurationParams(policy="trim"))
    out = tmp_path / "out.jsonl"
    write_export(curated.output(), out, "jsonl", messages_column="messages")
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == 5 and got[0]["slick_action"] == "trim"
    assert got[0]["messages"] == [{"role": "user", "content": "Tell me about Kenya."},
                                  {"role": "assistant", "content": TRIMMED_KENYA}]
    assert got[1]["messages"][1]["content"] == "Hello, nice to meet you!"  # no_facts, whole
    # The fact columns describe the trimmed answer: kept facts, offsets into it.
    facts = got[0]["slick_facts"]
    assert [f["text"] for f in facts] == ["Nairobi", "Mombasa"]
    assert all(TRIMMED_KENYA[f["start"]:f["end"]] == f["text"] for f in facts)
    assert got[0]["slick_known_share"] == 1.0 and len(got[0]["slick_sentences"]) == 2


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_qa_exports_carry_the_trimmed_answer_column(tmp_path, fmt):
    curated = curate(data("qa", fmt=fmt), CurationParams(policy="trim"))
    out = tmp_path / f"out.{fmt}"
    write_export(curated.output(drop_annotations=True), out, fmt)
    if fmt == "csv":
        with out.open(newline="") as f:
            records = list(csv.DictReader(f))
    elif fmt == "json":
        records = json.loads(out.read_text())
    else:
        records = pq.read_table(out).to_pylist()
    assert [r["question"] for r in records] == [
        "Tell me about Kenya.", "Say hello.", "What is the capital of Chile?",
        "Tell me about Oslo.", "Tell me about Perth."]
    assert records[0]["answer"] == TRIMMED_KENYA
    assert records[4]["answer"] == "Perth lies on the Swan River."
    assert records[2]["answer"] == "Santiago" and set(records[0]) == {"question", "answer",
                                                                      "relation"}


def test_qa_rows_with_only_an_aliases_column_get_the_first_alias_trimmed():
    table = annotated_table(ROWS, kind="qa")
    answers = [[a, "an alias"] for a in table.column("answer").to_pylist()]
    table = table.drop_columns(["answer"]).add_column(1, "answers", pa.array(answers))
    curated = curate(AnnotatedFile.from_table(table), CurationParams(policy="trim"))
    out = curated.output(drop_annotations=True).column("answers").to_pylist()
    assert out[0] == [TRIMMED_KENYA, "an alias"]
    assert out[1] == ["Hello, nice to meet you!", "an alias"]


def test_chat_messages_as_json_text_are_trimmed_in_place():
    table = annotated_table(ROWS)
    text = [json.dumps(m) for m in table.column("messages").to_pylist()]
    table = table.set_column(0, "messages", pa.array(text))
    curated = curate(AnnotatedFile.from_table(table), CurationParams(policy="trim"))
    first = json.loads(curated.output().column("messages").to_pylist()[0])
    assert first[-1]["content"] == TRIMMED_KENYA


def test_cli_curate_with_trim_and_min_known_share(tmp_path):
    source = tmp_path / "chat.annotated.parquet"
    pq.write_table(annotated_table(ROWS), source)
    out = tmp_path / "train.jsonl"
    result = CliRunner().invoke(cli, ["curate", str(source), "-o", str(out), "--policy", "trim",
                                      "--min-known-share", "0.6"])
    assert result.exit_code == 0, result.output
    assert "6 rows in = 4 kept + 1 dropped + 0 relabelled + 1 trimmed" in result.output
    got = [json.loads(line) for line in out.read_text().splitlines()]
    # Kenya (share 0.75) is kept whole; Perth (0.5) is trimmed; Ankara (0.5) is dropped.
    assert [r["slick_action"] for r in got] == ["keep", "keep", "keep", "keep", "trim"]
    assert got[0]["messages"][-1]["content"].endswith("in 2019.")
    bad = CliRunner().invoke(cli, ["curate", str(source), "--min-known-share", "2"])
    assert bad.exit_code == 2 and "--min-known-share" in bad.output
