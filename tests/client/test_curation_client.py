"""`probes.curated`, `report`, `report_json` and `rows`: query strings from validated knobs,
typed results and errors (scripted server, sync and async), then the real app."""

from __future__ import annotations

import json

import httpx
import pyarrow as pa
import pytest
from client_support import Runner, Server, error_json
from slick_client import (
    BadRequestError,
    ConflictError,
    CuratedFile,
    InvalidParamsError,
    ReportPublic,
    RowsPublic,
)

BASE = "/v1/probes/p1"
JSONL = b'{"question": "q0", "answer": "a0"}\n{"question": "q1", "answer": "I don\'t know."}\n'
COUNTS = {"x-slick-format": "jsonl", "x-slick-rows": "3", "x-slick-kept": "1",
          "x-slick-dropped": "1", "x-slick-relabelled": "1"}


def report_body() -> dict:
    hist = {"bins": ["0", "1"], "counts": {"Unknown": [1, 0]}, "missing": 0}
    return {"run": {"model": "m", "params": {"n_prompts": 10}}, "rows": 1, "probed": 1,
            "skipped": 0, "categories": {"Unknown": 1}, "shares": {"Unknown": 1.0},
            "groups": [{"group": "all", "rows": 1, "counts": {"Unknown": 1}}],
            "groups_total": 1, "p_greedy": hist, "p_sample": hist,
            "curation": {"params": {"policy": "filter"}, "rows": 1, "kept": 0, "dropped": 1,
                         "relabelled": 0},
            "examples": {"Unknown": [{"row": 0, "question": "q0", "gold": ["a0"]}]}}


def test_curated_sends_validated_knobs_and_returns_counts(run: Runner, server: Server):
    server.route("GET", f"{BASE}/curated", httpx.Response(200, content=JSONL, headers=COUNTS))
    curated = run(lambda c: c.probes.curated(
        "p1", policy="relabel", format="jsonl", unknown=["Unknown", "WeaklyKnown"],
        caps={"HighlyKnown": 0.5}, min_per_group=3, abstention="No idea.",
        drop_annotations=True))
    assert isinstance(curated, CuratedFile)
    assert (curated.format, curated.rows, curated.kept, curated.dropped, curated.relabelled) \
        == ("jsonl", 3, 1, 1, 1)
    assert curated.records()[1] == {"question": "q1", "answer": "I don't know."}
    assert curated.table().num_rows == 2
    query = server.requests[0].url.params
    assert query.get_list("unknown") == ["Unknown", "WeaklyKnown"]
    assert query.get_list("cap") == ["HighlyKnown:0.5"]
    assert (query["policy"], query["format"], query["min_per_group"], query["abstention"],
            query["drop_annotations"]) == ("relabel", "jsonl", "3", "No idea.", "true")
    assert "seed" not in query and "all_rows" not in query  # unset: server defaults


def test_curated_with_the_trim_policy_and_a_known_share(run: Runner, server: Server):
    server.route("GET", f"{BASE}/curated", httpx.Response(200, content=JSONL, headers={
        **COUNTS, "x-slick-rows": "5", "x-slick-trimmed": "2"}))
    curated = run(lambda c: c.probes.curated("p1", policy="trim", min_known_share=0.6))
    assert (curated.rows, curated.kept, curated.dropped, curated.relabelled,
            curated.trimmed) == (5, 1, 1, 1, 2)
    query = server.requests[0].url.params
    assert (query["policy"], query["min_known_share"]) == ("trim", "0.6")
    assert "min_p_greedy" not in query


def test_a_report_with_free_form_rows_has_a_typed_fact_view(run: Runner, server: Server):
    fact = {"text": "Nairobi", "start": 24, "end": 31, "label": "GPE",
            "category": "HighlyKnown", "p_greedy": 1.0}
    body = {**report_body(), "no_facts": 1, "answer_kinds": {"long": 2},
            "curation": {**report_body()["curation"], "params": {"policy": "trim"},
                         "trimmed": 1},
            "facts": {"rows": 2, "no_facts": 1, "facts": 1,
                      "categories": {"HighlyKnown": 1}, "by_label": {"GPE": {"HighlyKnown": 1}},
                      "examples": {"HighlyKnown": [{
                          "row": 0, "answer": "The capital of Kenya is Nairobi.",
                          "facts": [fact], "action": "keep"}]}}}
    server.route("GET", f"{BASE}/report.json", httpx.Response(200, json=body))
    report = run(lambda c: c.probes.report_json("p1", policy="trim"))
    assert report.curation.trimmed == 1 and report.no_facts == 1
    shown = report.facts.examples["HighlyKnown"][0]
    assert shown.answer[shown.facts[0].start:shown.facts[0].end] == "Nairobi"
    assert server.requests[0].url.params["policy"] == "trim"


def test_curated_to_a_path_streams_to_disk(run: Runner, server: Server, tmp_path):
    import io

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table({"question": ["q0"], "answer": ["a0"]}), sink)
    server.route("GET", f"{BASE}/curated", httpx.Response(
        200, content=sink.getvalue(), headers={**COUNTS, "x-slick-format": "parquet"}))
    target = tmp_path / "out" / "train.curated.parquet"
    curated = run(lambda c: c.probes.curated("p1", format="parquet", path=target))
    assert curated.path == target and curated.content is None
    assert pq.read_table(target).to_pylist() == [{"question": "q0", "answer": "a0"}]
    assert curated.records() == [{"question": "q0", "answer": "a0"}]
    assert server.requests[0].url.params["policy"] == "filter"


@pytest.mark.parametrize(("kwargs", "param", "message"), [
    ({"polcy": "relabel"}, "polcy", "Did you mean 'policy'?"),
    ({"policy": "shuffle"}, "policy", "'filter', 'relabel', 'keep' or 'trim'"),
    ({"min_known_share": -0.1}, "min_known_share", "greater than or equal to 0"),
    ({"caps": {"Famous": 0.5}}, "caps.Famous.[key]", "HighlyKnown"),
    ({"max_share": 1.5}, "max_share", "less than or equal to 1"),
    ({"format": "xml"}, "format", "jsonl, json, csv, parquet"),
])
def test_bad_knobs_fail_before_any_request(run: Runner, server: Server, kwargs, param,
                                           message):
    with pytest.raises(InvalidParamsError) as info:
        run(lambda c: c.probes.curated("p1", **kwargs))
    assert info.value.param == param and message in info.value.message
    assert server.requests == []


def test_report_html_and_path(run: Runner, server: Server, tmp_path):
    page = "<!doctype html><title>SliCK report</title>"
    server.route("GET", f"{BASE}/report", httpx.Response(
        200, text=page, headers={"content-type": "text/html; charset=utf-8"}))
    assert run(lambda c: c.probes.report("p1")) == page
    saved = run(lambda c: c.probes.report("p1", path=tmp_path / "r.html", policy="relabel",
                                          examples=3))
    assert saved.read_text() == page
    assert server.requests[-1].url.params["policy"] == "relabel"
    assert server.requests[-1].url.params["examples"] == "3"


def test_report_json_is_typed(run: Runner, server: Server):
    server.route("GET", f"{BASE}/report.json", httpx.Response(200, json=report_body()))
    report = run(lambda c: c.probes.report_json("p1", min_p_greedy=0.5))
    assert isinstance(report, ReportPublic)
    assert report.examples["Unknown"][0].gold == ["a0"] and report.curation.dropped == 1
    assert server.requests[0].url.params["min_p_greedy"] == "0.5"


def test_rows_filters_and_paging(run: Runner, server: Server):
    body = {"data": [{"slick_row": 3, "question": "q3"}], "count": 7, "limit": 1,
            "offset": 2, "columns": ["slick_row", "question"]}
    server.route("GET", f"{BASE}/rows", httpx.Response(200, json=body))
    page = run(lambda c: c.probes.rows("p1", category=["Unknown", "WeaklyKnown"],
                                       group="P36", columns=["question"], limit=1, offset=2))
    assert isinstance(page, RowsPublic) and page.count == 7 and page.data[0]["slick_row"] == 3
    query = server.requests[0].url.params
    assert query.get_list("category") == ["Unknown", "WeaklyKnown"]
    assert (query["group"], query["columns"], query["limit"], query["offset"]) == (
        "P36", "question", "1", "2")


def test_server_errors_are_typed(run: Runner, server: Server):
    server.route("GET", f"{BASE}/rows", httpx.Response(400, json=error_json(
        400, "invalid_request", "unknown column 'secret'", param="columns")))
    server.route("GET", f"{BASE}/curated", httpx.Response(409, json=error_json(
        409, "conflict", "probe p1 has no result yet (running)", param="probe_id")))
    with pytest.raises(BadRequestError) as bad:
        run(lambda c: c.probes.rows("p1", columns=["secret"]))
    assert bad.value.param == "columns" and bad.value.status_code == 400
    with pytest.raises(ConflictError) as conflict:
        run(lambda c: c.probes.curated("p1"))
    assert "no result yet" in conflict.value.message


# -- the real app ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live_probe(live, tmp_path_factory):
    """A finished probe on the live app: 5 HighlyKnown, 5 WeaklyKnown, 14 Unknown rows."""
    from live_support import rows, write_jsonl

    path = write_jsonl(tmp_path_factory.mktemp("curation") / "facts.jsonl", rows())
    with live.client() as c:
        ds = c.datasets.upload(path)
        job = c.probes.create(ds.id, mode="adaptive", n_prompts=2, k_shot=1, n_samples=2)
        return c.probes.wait(job.id, timeout=120).id


def test_live_curation_report_and_rows(lrun, live_probe, tmp_path):
    from live_support import question

    curated = lrun(lambda c: c.probes.curated(live_probe, policy="relabel",
                                              drop_annotations=True))
    assert (curated.format, curated.rows, curated.kept, curated.relabelled) == (
        "jsonl", 24, 10, 14)
    records = curated.records()
    assert len(records) == 24 and set(records[0]) == {"id", "question", "answer"}
    assert records[-1]["answer"] == "I don't know." and records[0]["answer"] == "City 0"

    filtered = lrun(lambda c: c.probes.curated(live_probe, format="parquet",
                                               path=tmp_path / "f.parquet"))
    assert filtered.table().num_rows == 10 and filtered.path.is_file()

    html = lrun(lambda c: c.probes.report(live_probe, policy="relabel"))
    assert 'data-chart="p-greedy"' in html and live_probe in html
    report = lrun(lambda c: c.probes.report_json(live_probe, examples=2))
    assert report.categories == {"HighlyKnown": 5, "MaybeKnown": 0, "WeaklyKnown": 5,
                                 "Unknown": 14}
    assert report.curation.kept == 10 and report.curation.dropped == 14

    page = lrun(lambda c: c.probes.rows(live_probe, category="WeaklyKnown", limit=2, offset=1))
    assert page.count == 5 and [r["question"] for r in page.data] == [question(6), question(7)]
    with pytest.raises(BadRequestError) as bad:
        lrun(lambda c: c.probes.rows(live_probe, category="Famous"))
    assert bad.value.param == "category"
    assert json.loads(bad.value.response.text)["error"]["type"] == "invalid_request"
