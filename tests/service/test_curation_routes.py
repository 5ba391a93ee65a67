"""/v1/probes/{id}/curated, /report, /report.json and /rows over a real probe result."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest
from service_helpers import QUESTIONS, SCRIPT, assert_error, start_probe, upload, wait_status

UNKNOWN = {q["question"] for q in QUESTIONS if SCRIPT[q["question"]] == "Nowhere"}  # 10 rows
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def chat(rows):
    return [{"messages": [{"role": "system", "content": "Answer briefly."},
                          {"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["answers"][0]}],
             "relation": r["relation"], "source": "wiki"} for r in rows]


@pytest.fixture(scope="module")
def qa_probe(client):
    rows = [*QUESTIONS, {"question": HOSTILE, "answers": ["x"], "relation": "P17"},
            {"question": "", "answers": ["bad"], "relation": "P17"}]
    dataset = upload(client, rows, name="qa.jsonl")
    probe = wait_status(client, start_probe(client, dataset["id"])["id"], "succeeded")
    return probe["id"]


@pytest.fixture(scope="module")
def chat_probe(client):
    dataset = upload(client, chat(QUESTIONS), name="chat.jsonl")
    probe = wait_status(client, start_probe(client, dataset["id"])["id"], "succeeded")
    return probe["id"]


def lines(response):
    return [json.loads(line) for line in response.text.splitlines()]


def test_curated_filter_is_the_default_and_keeps_the_input_format(client, qa_probe):
    response = client.get(f"/v1/probes/{qa_probe}/curated")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert f'{qa_probe}.curated.jsonl' in response.headers["content-disposition"]
    rows = lines(response)
    # 32 rows in: 20 known, 10 + the hostile one unknown, 1 skipped (empty question).
    assert (response.headers["x-slick-rows"], response.headers["x-slick-kept"],
            response.headers["x-slick-dropped"], response.headers["x-slick-relabelled"]) == (
        "32", "20", "12", "0")
    assert len(rows) == 20
    assert {r["question"] for r in rows}.isdisjoint(UNKNOWN)
    assert all(r["slick_action"] == "keep" and r["slick_reason"] == "known: HighlyKnown"
               for r in rows)
    assert all(r["relation"] in ("P17", "P36") for r in rows)  # extra columns kept


def test_curated_all_rows_say_why_each_was_dropped(client, qa_probe):
    rows = lines(client.get(f"/v1/probes/{qa_probe}/curated", params={"all_rows": "true"}))
    assert len(rows) == 32
    reasons = {r["slick_reason"] for r in rows if r["slick_action"] == "drop"}
    assert reasons == {"unknown: Unknown", "skipped: question: empty"}


def test_curated_relabel_keeps_chat_rows_and_replaces_the_assistant_turn(client, chat_probe):
    response = client.get(f"/v1/probes/{chat_probe}/curated",
                          params={"policy": "relabel", "abstention": "Not sure.",
                                  "drop_annotations": "true"})
    assert response.status_code == 200, response.text
    assert response.headers["x-slick-relabelled"] == "10"
    rows = lines(response)
    assert rows == [
        {**row, "messages": [*row["messages"][:2],
                             {"role": "assistant", "content": "Not sure."}]}
        if row["messages"][1]["content"] in UNKNOWN else row
        for row in chat(QUESTIONS)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_curated_in_another_format(client, qa_probe, fmt):
    response = client.get(f"/v1/probes/{qa_probe}/curated",
                          params={"format": fmt, "policy": "relabel"})
    assert response.status_code == 200, response.text
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(response.content))
        questions, answers = (table.column("question").to_pylist(),
                              table.column("answers").to_pylist())
    elif fmt == "csv":
        records = list(csv.DictReader(io.StringIO(response.text)))
        questions = [r["question"] for r in records]
        answers = [json.loads(r["answers"]) for r in records]
    else:
        records = response.json()
        questions, answers = [r["question"] for r in records], [r["answers"] for r in records]
    assert len(questions) == 31  # everything but the skipped row
    relabelled = [a for q, a in zip(questions, answers, strict=True) if q in UNKNOWN]
    assert relabelled == [["I don't know."]] * 10


def test_routes_404_for_unknown_probe_and_409_before_the_result(client):
    for route in ("curated", "report", "report.json", "rows"):
        assert_error(client.get(f"/v1/probes/pr_0123456789abcdef/{route}"), 404, "not_found",
                     param="probe_id")
    slow = [{"question": f"Slow question {i}?", "answer": f"A{i}"} for i in range(300)]
    probe = start_probe(client, upload(client, slow, name="slow.jsonl")["id"])
    try:
        for route in ("curated", "report", "report.json", "rows"):
            assert_error(client.get(f"/v1/probes/{probe['id']}/{route}"), 409, "conflict",
                         param="probe_id", message="has no result yet")
    finally:
        client.post(f"/v1/probes/{probe['id']}/cancel")


def test_report_html_is_self_contained_and_escapes_user_text(client, qa_probe):
    response = client.get(f"/v1/probes/{qa_probe}/report", params={"examples": 50})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    for chart in ("categories", "groups", "p-greedy", "p-sample", "policy"):
        assert f'data-chart="{chart}"' in html
    assert "<script" not in html and "<img" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert qa_probe in html and "fake" in html


def test_report_json_numbers_and_policy_effect(client, qa_probe):
    default = client.get(f"/v1/probes/{qa_probe}/report.json").json()
    assert default["rows"] == 32 and default["probed"] == 31 and default["skipped"] == 1
    assert default["categories"] == {"HighlyKnown": 20, "MaybeKnown": 0, "WeaklyKnown": 0,
                                     "Unknown": 11}
    assert [g["group"] for g in default["groups"]] == ["P17", "P36"]
    assert default["curation"]["params"]["policy"] == "filter"
    assert default["run"]["model"] == "fake" and default["run"]["probe_id"] == qa_probe
    assert default["p_greedy"]["counts"]["HighlyKnown"][-1] == 20
    relabel = client.get(f"/v1/probes/{qa_probe}/report.json",
                         params={"policy": "relabel", "examples": 1}).json()["curation"]
    assert (relabel["kept"], relabel["relabelled"], relabel["dropped"]) == (20, 11, 1)
    assert relabel["kept"] + relabel["relabelled"] + relabel["dropped"] == relabel["rows"]


def test_rows_filters_and_paging(client, qa_probe):
    url = f"/v1/probes/{qa_probe}/rows"
    unknown = client.get(url, params={"category": "Unknown", "limit": 4}).json()
    assert unknown["count"] == 11 and len(unknown["data"]) == 4
    assert {r["slick_category"] for r in unknown["data"]} == {"Unknown"}
    pages = [client.get(url, params={"category": "Unknown", "group": "P36", "limit": 2,
                                     "offset": offset, "columns": "question,slick_group"}).json()
             for offset in (0, 2, 4, 6)]
    assert pages[0]["columns"] == ["slick_row", "question", "slick_group"]
    seen = [r for p in pages for r in p["data"]]
    assert pages[0]["count"] == len(seen) == 5
    assert [r["slick_row"] for r in seen] == sorted({r["slick_row"] for r in seen})
    assert all(set(r) == {"slick_row", "question", "slick_group"} and r["slick_group"] == "P36"
               for r in seen)
    both = client.get(url, params=[("category", "Unknown"), ("category", "HighlyKnown")])
    assert both.json()["count"] == 31
    skipped = client.get(url, params={"status": "skipped"}).json()
    assert skipped["count"] == 1 and skipped["data"][0]["slick_error"] == "question: empty"


# A bad query parameter of /curated or /rows: 400 naming the parameter, and what was wrong.
BAD_QUERIES = [
    ("curated", {"policy": "shuffle"}, "policy", "'filter', 'relabel', 'keep' or 'trim'"),
    ("curated", {"min_known_share": "1.5"}, "min_known_share", "less than or equal to 1"),
    ("curated", {"cap": "Famous:0.2"}, "cap", "unknown category 'Famous'"),
    ("curated", {"cap": "Unknown:2"}, "cap", "must be in (0, 1]"),
    ("curated", {"unknown": "Unknown,Nope"}, "unknown", "unknown category 'Nope'"),
    ("curated", {"min_p_greedy": "1.5"}, "min_p_greedy", "less than or equal to 1"),
    ("curated", {"format": "xml"}, "format", "unknown format 'xml'"),
    ("curated", {"polcy": "relabel"}, "polcy", "unknown query parameter 'polcy'"),
    ("rows", {"slick_category": "Unknown"}, "slick_category", "unknown query parameter"),
    ("rows", {"category": "Famous"}, "category", "unknown category 'Famous'"),
    ("rows", {"group": "P99"}, "group", "no group 'P99' in this result; groups: P17, P36"),
    ("rows", {"group": "P36' OR '1'='1"}, "group", "no group"),
    ("rows", {"columns": "question,secret"}, "columns", "unknown column 'secret'"),
    ("rows", {"columns": 'question" FROM x; --'}, "columns", "unknown column"),
    ("rows", {"status": "done"}, "status", "expected one of probed, no_facts, skipped"),
]


@pytest.mark.parametrize(("route", "params", "param", "message"), BAD_QUERIES)
def test_bad_query_parameters_are_named(client, qa_probe, route, params, param, message):
    response = client.get(f"/v1/probes/{qa_probe}/{route}", params=params)
    assert_error(response, 400, "invalid_request", param=param, message=message)


def test_rows_paging_limits_are_validated(client, qa_probe):
    assert_error(client.get(f"/v1/probes/{qa_probe}/rows", params={"limit": 0}), 422,
                 "validation_error", param="limit")
    assert_error(client.get(f"/v1/probes/{qa_probe}/rows", params={"offset": -1}), 422,
                 "validation_error", param="offset")
    past = client.get(f"/v1/probes/{qa_probe}/rows", params={"offset": 1000}).json()
    assert past["data"] == [] and past["count"] == 32


def test_curation_routes_need_the_api_key_like_every_v1_route(client):
    from slick_curator.api.deps import require_key

    routes = {getattr(r, "path", None): r for r in client.app.routes}
    for route in ("curated", "report", "report.json", "rows"):
        dependant = routes[f"/v1/probes/{{probe_id}}/{route}"].dependant
        assert require_key in [d.call for d in dependant.dependencies]


# Free-form chat rows (user turns are scripted questions, so every fact probe of a row gets
# that question's scripted answer): City1 is stated where the answer states it, the Zambezi
# never is.
FREE_FORM = [
    ("What is the capital of region 1?",
     "The capital of region 1 is City1. The Zambezi flows far from it."),
    ("What is the capital of region 2?",
     "The Zambezi flows through region 2. It has its capital at City2."),
    ("What is the capital of region 4?", "I am not sure, sorry about that."),
    ("What is the capital of region 5?", "City5"),
]


@pytest.fixture(scope="module")
def free_form_probe(client):
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
             "relation": "P36"} for q, a in FREE_FORM]
    dataset = upload(client, rows, name="free.jsonl")
    probe = wait_status(client, start_probe(client, dataset["id"], k_shot=1)["id"],
                        "succeeded")
    return probe["id"]


def test_curated_trim_policy_cuts_unknown_sentences_of_chat_answers(client, free_form_probe):
    url = f"/v1/probes/{free_form_probe}/curated"
    response = client.get(url, params={"policy": "trim", "all_rows": "true"})
    assert response.status_code == 200, response.text
    assert [response.headers[f"x-slick-{n}"] for n in ("rows", "kept", "dropped", "relabelled",
                                                        "trimmed")] == ["4", "2", "1", "0", "1"]
    got = lines(response)
    assert [r["slick_action"] for r in got] == ["trim", "drop", "keep", "keep"]
    assert got[0]["messages"] == [{"role": "user", "content": FREE_FORM[0][0]},
                                  {"role": "assistant",
                                   "content": "The capital of region 1 is City1."}]
    assert got[1]["slick_reason"].endswith("cannot trim: a kept sentence refers back to a "
                                           "dropped one [It]")
    assert (got[2]["slick_status"], got[2]["slick_reason"]) == (
        "no_facts", "kept: free-form answer with no fact to probe")
    # filter drops both free-form rows with an Unknown fact (each has 1 of 2 facts known);
    # with min_known_share 0.5 they count as known.
    filtered = client.get(url)
    assert [r["messages"][0]["content"] for r in lines(filtered)] == [
        FREE_FORM[2][0], FREE_FORM[3][0]]
    assert filtered.headers["x-slick-trimmed"] == "0"
    shared = lines(client.get(url, params={"min_known_share": "0.5"}))
    assert len(shared) == 4 and shared[0]["slick_reason"] == "known: known share >= 0.5"


def test_report_json_of_free_form_rows_has_the_fact_view(client, free_form_probe):
    report = client.get(f"/v1/probes/{free_form_probe}/report.json",
                        params={"policy": "trim"}).json()
    assert (report["probed"], report["no_facts"], report["skipped"]) == (3, 1, 0)
    assert report["answer_kinds"] == {"short": 1, "long": 3}
    assert report["curation"]["trimmed"] == 1
    facts = report["facts"]
    assert (facts["rows"], facts["no_facts"]) == (3, 1)
    assert facts["categories"]["Unknown"] >= 2 and facts["categories"]["HighlyKnown"] >= 2
    assert sum(sum(c.values()) for c in facts["by_label"].values()) == facts["facts"]
    shown = {e["row"]: e for e in facts["examples"]["Unknown"]}
    assert shown[0]["action"] == "trim" and shown[1]["action"] == "drop"
    assert all(e["answer"][f["start"]:f["end"]] == f["text"]
               for e in shown.values() for f in e["facts"])
    no_facts = client.get(f"/v1/probes/{free_form_probe}/rows",
                          params={"status": "no_facts"}).json()
    assert no_facts["count"] == 1 and no_facts["data"][0]["slick_recommendation"] == "keep"
