"""/v1/probes: create (and every up-front check), list, get, events, cancel, result."""

from __future__ import annotations

import threading
import time

import pytest
from service_helpers import (
    QUESTIONS,
    SCRIPT,
    SMALL_PROBE,
    assert_error,
    result_table,
    sse_events,
    start_probe,
    upload,
    wait_status,
    wait_until,
)

BIG = [{"question": f"Slow question {i}?", "answer": f"A{i}"} for i in range(400)]


def test_probe_runs_to_completion(client):
    dataset = upload(client, QUESTIONS, name="full.jsonl")
    probe = start_probe(client, dataset["id"])
    assert probe["status"] == "queued"
    assert probe["progress"] == {"done": 0, "total": 30, "rate": None, "eta_s": None}
    assert (probe["model"], probe["engine"]) == ("fake", "fake")
    assert probe["params"]["n_prompts"] == 2
    done = wait_status(client, probe["id"], "succeeded")
    assert done["progress"]["done"] == done["progress"]["total"] == 30
    assert done["counts"] == {"HighlyKnown": 20, "MaybeKnown": 0, "WeaklyKnown": 0,
                              "Unknown": 10}
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    table = result_table(client, probe["id"])
    assert table.num_rows == 30
    assert table.column("question").to_pylist() == [q["question"] for q in QUESTIONS]
    greedy = [answers[0] for answers in table.column("slick_greedy_answers").to_pylist()]
    assert greedy == [SCRIPT[q["question"]] for q in QUESTIONS]
    assert set(table.column("slick_status").to_pylist()) == {"probed"}
    # Shards are removed once the result is written; the result stays.
    job_dir = client.app.state.services.store.paths.probe(probe["id"])
    assert (job_dir / "result.parquet").is_file() and not (job_dir / "shards").exists()


def test_skipped_rows_are_in_the_result(client):
    rows = [*QUESTIONS[:8], {"question": "", "answers": ["x"]}]
    dataset = upload(client, rows, name="skips.jsonl")
    probe = wait_status(client, start_probe(client, dataset["id"])["id"], "succeeded")
    assert probe["progress"]["total"] == 8
    table = result_table(client, probe["id"])
    assert table.num_rows == 9
    assert table.column("slick_status").to_pylist()[-1] == "skipped"
    assert table.column("slick_recommendation").to_pylist()[-1] == "drop"


def test_exemplar_dataset_and_full_mode(client):
    dataset = upload(client, QUESTIONS[:10], name="probe-me.jsonl")
    exemplars = upload(client, QUESTIONS[10:], name="dev.jsonl")
    probe = start_probe(client, dataset["id"], exemplar_dataset_id=exemplars["id"], mode="full",
                        keep_prompts=True)
    assert probe["exemplar_dataset_id"] == exemplars["id"]
    done = wait_status(client, probe["id"], "succeeded")
    assert sum(done["counts"].values()) == 10
    table = result_table(client, probe["id"])
    pool = {q["question"] for q in QUESTIONS[10:]}
    assert table.num_rows == 10
    for prompts in table.column("slick_prompts").to_pylist():
        shots = [line[3:] for p in prompts for line in p.splitlines()[:-2] if line[:3] == "Q: "]
        assert shots and set(shots) <= pool  # every exemplar came from the exemplar file
    assert set(table.column("slick_n_samples").to_pylist()) == {2 * 3}


def test_events_stream_progress_then_end(client):
    dataset = upload(client, QUESTIONS, name="events.jsonl")
    probe = start_probe(client, dataset["id"])
    response = client.get(f"/v1/probes/{probe['id']}/events")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in sse_events(response.text) if e[0] != "comment"]
    assert events[0][0] == "progress" and events[-1][0] == "end"
    assert all(name == "progress" for name, _ in events[:-1])
    import json

    final = json.loads(events[-1][1])
    assert final["status"] == "succeeded" and final["progress"]["done"] == 30
    # Already finished: the stream is just the `end` event.
    again = sse_events(client.get(f"/v1/probes/{probe['id']}/events").text)
    assert [name for name, _ in again] == ["end"]


def test_probe_validation_errors(client):
    dataset = upload(client, QUESTIONS[:6], name="validate.jsonl")
    ds = dataset["id"]
    cases = [
        ({"dataset_id": "ds_missing"}, 404, "not_found", "dataset_id", "no dataset"),
        ({"dataset_id": ds, "exemplar_dataset_id": "ds_gone"}, 404, "not_found",
         "exemplar_dataset_id", "no dataset"),
        ({"dataset_id": ds, "model": "/models/evil"}, 400, "invalid_request", "model",
         "not allowed"),
        ({"dataset_id": ds, "model": "HuggingFaceTB/SmolLM2-1.7B"}, 400, "invalid_request",
         "model", "not allowed"),
        ({"dataset_id": ds, "engine": "vllm"}, 400, "invalid_request", "engine", "not allowed"),
        ({"dataset_id": ds, "k_shot": 8}, 400, "invalid_request", "k_shot",
         "exemplar pool too small"),
        ({"dataset_id": ds, "n_prompts": 0}, 422, "validation_error", "n_prompts", "n_prompts"),
        ({"dataset_id": ds, "temperature": 0}, 422, "validation_error", "temperature", None),
        ({"dataset_id": ds, "mode": "turbo"}, 422, "validation_error", "mode", None),
        ({"dataset_id": ds, "bogus": 1}, 422, "validation_error", "bogus", "Extra inputs"),
        ({}, 422, "validation_error", "dataset_id", "Field required"),
    ]
    for body, code, type_, param, message in cases:
        assert_error(client.post("/v1/probes", json=body), code, type_, param=param,
                     message=message)
    bad_json = client.post("/v1/probes", content=b'{"dataset_id": ',
                           headers={"Content-Type": "application/json"})
    assert_error(bad_json, 422, "validation_error", param=None, message="not valid JSON",
                 client=client)


def test_dataset_without_valid_rows_is_400(client):
    dataset = upload(client, [{"question": "", "answers": ["x"]}] * 3, name="empty-rows.jsonl")
    assert dataset["valid_rows"] == 0
    response = client.post("/v1/probes", json={"dataset_id": dataset["id"]})
    assert_error(response, 400, "invalid_request", param="dataset_id",
                 message="has no valid rows", client=client)


def test_too_small_exemplar_pool_is_400(client):
    dataset = upload(client, QUESTIONS[:6], name="pool-target.jsonl")
    tiny = upload(client, [{"question": "Only one?", "answer": "yes", "relation": "P36"}],
                  name="tiny-pool.jsonl")
    response = client.post("/v1/probes", json={"dataset_id": dataset["id"],
                                               "exemplar_dataset_id": tiny["id"], **SMALL_PROBE})
    assert_error(response, 400, "invalid_request", param="exemplar_dataset_id",
                 message="exemplar pool too small", client=client)


def test_unknown_probe_ids_are_404(client):
    for method, path in [("GET", "/v1/probes/pr_0"), ("GET", "/v1/probes/pr_0/result"),
                         ("GET", "/v1/probes/pr_0/events"), ("POST", "/v1/probes/pr_0/cancel")]:
        assert_error(client.request(method, path), 404, "not_found", param="probe_id",
                     message="no probe 'pr_0'", client=client)


def test_result_before_done_is_409_then_cancel(client):
    dataset = upload(client, BIG, name="big.jsonl")
    probe = start_probe(client, dataset["id"], k_shot=1)
    assert_error(client.get(f"/v1/probes/{probe['id']}/result"), 409, "conflict",
                 message="has no result yet", client=client)
    running = wait_until(lambda: (p := client.get(f"/v1/probes/{probe['id']}").json())
                         ["progress"]["done"] >= 8 and p, "two shards done")
    assert running["status"] == "running"
    assert running["progress"]["rate"] > 0 and running["progress"]["eta_s"] > 0
    assert running["counts"]["Unknown"] >= 8
    assert client.get("/healthz").status_code == 200  # the API answers while probing
    response = client.post(f"/v1/probes/{probe['id']}/cancel")
    assert response.status_code == 202 and response.json()["id"] == probe["id"]
    cancelled = wait_status(client, probe["id"], "cancelled")
    assert cancelled["progress"]["done"] < 400
    shards = client.app.state.services.store.paths.probe(probe["id"]) / "shards"
    assert len(list(shards.glob("*.parquet"))) >= 2  # finished shards are kept
    assert_error(client.get(f"/v1/probes/{probe['id']}/result"), 409, "conflict",
                 message="cancelled")
    assert_error(client.post(f"/v1/probes/{probe['id']}/cancel"), 409, "conflict",
                 message="already finished (cancelled)", client=client)


def test_cancel_a_queued_probe_and_heartbeats(client):
    dataset = upload(client, BIG, name="big2.jsonl")
    first = start_probe(client, dataset["id"], k_shot=1, seed=1)
    second = start_probe(client, dataset["id"], k_shot=1, seed=2)
    wait_status(client, first["id"], "running")

    def cancel_later():
        time.sleep(1.0)
        client.post(f"/v1/probes/{second['id']}/cancel")

    canceller = threading.Thread(target=cancel_later)
    canceller.start()
    stream = sse_events(client.get(f"/v1/probes/{second['id']}/events").text)
    canceller.join()
    assert stream[0][0] == "progress" and '"status":"queued"' in stream[0][1]
    assert ("comment", "heartbeat") in stream
    assert stream[-1][0] == "end" and '"status":"cancelled"' in stream[-1][1]
    assert client.get(f"/v1/probes/{first['id']}").json()["status"] == "running"
    assert client.post(f"/v1/probes/{first['id']}/cancel").status_code == 202
    wait_status(client, first["id"], "cancelled")


def test_list_probes_pages_newest_first_and_filters(client):
    dataset = upload(client, QUESTIONS[:6], name="list.jsonl")
    ids = [start_probe(client, dataset["id"], seed=i)["id"] for i in range(3)]
    for probe_id in ids:
        wait_status(client, probe_id, "succeeded")
    page = client.get("/v1/probes", params={"limit": 2}).json()
    assert [p["id"] for p in page["data"]] == ids[::-1][:2]
    assert page["count"] >= 3
    second = client.get("/v1/probes", params={"limit": 1, "offset": 2}).json()
    assert second["data"][0]["id"] == ids[0]
    succeeded = client.get("/v1/probes", params={"status": "succeeded", "limit": 1000}).json()
    assert set(ids) <= {p["id"] for p in succeeded["data"]}
    assert all(p["status"] == "succeeded" for p in succeeded["data"])
    assert succeeded["count"] == len(succeeded["data"])
    assert_error(client.get("/v1/probes", params={"status": "done"}), 422, "validation_error",
                 param="status", client=client)
    assert_error(client.get("/v1/probes", params={"offset": -1}), 422, "validation_error",
                 param="offset")


@pytest.mark.parametrize("mode", ["adaptive", "full"])
def test_chat_prompt_format(client, mode):
    dataset = upload(client, QUESTIONS[:6], name="chatfmt.jsonl")
    probe = start_probe(client, dataset["id"], prompt_format="chat", mode=mode, keep_prompts=True)
    wait_status(client, probe["id"], "succeeded")
    prompts = result_table(client, probe["id"]).column("slick_prompts").to_pylist()
    assert prompts[0][0].startswith("<") and prompts[0][0].endswith("<assistant>")


def test_fast_mode_runs_through_the_service(client):
    dataset = upload(client, QUESTIONS, name="fast.jsonl")
    probe = start_probe(client, dataset["id"], mode="fast")
    done = wait_status(client, probe["id"], "succeeded")
    assert done["params"]["mode"] == "fast"
    assert done["counts"]["HighlyKnown"] == 20 and done["counts"]["Unknown"] == 10
    table = result_table(client, probe["id"])
    assert set(table.column("slick_n_samples").to_pylist()) == {0}


def test_an_unset_mode_is_exact_where_the_engine_enumerates_and_the_job_records_it(client):
    dataset = upload(client, QUESTIONS, name="default-mode.jsonl")
    body = {"dataset_id": dataset["id"], **{k: v for k, v in SMALL_PROBE.items() if k != "mode"}}
    response = client.post("/v1/probes", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["params"]["mode"] == "exact"  # chosen at creation, shown at once
    done = wait_status(client, response.json()["id"], "succeeded")
    assert done["params"]["mode"] == "exact"
    table = result_table(client, done["id"]).to_pylist()
    assert all(r["slick_category_probs"] is not None for r in table)
    # exact mode expands the top-k: without it the default is adaptive
    response = client.post("/v1/probes", json={**body, "top_k": 0})
    assert response.status_code == 202, response.text
    assert response.json()["params"]["mode"] == "adaptive"


def test_exact_mode_runs_through_the_service_and_is_refused_for_an_engine_that_cannot(client):
    dataset = upload(client, QUESTIONS, name="exact.jsonl")
    probe = start_probe(client, dataset["id"], mode="exact")
    done = wait_status(client, probe["id"], "succeeded")
    assert done["params"]["mode"] == "exact"
    table = result_table(client, probe["id"]).to_pylist()
    assert {r["slick_n_samples"] for r in table} == {0}
    assert all(sum(r["slick_category_probs"].values()) == pytest.approx(1.0) for r in table)
    response = client.post("/v1/probes", json={"dataset_id": dataset["id"], "mode": "exact",
                                               "top_k": 0})
    assert_error(response, 422, "validation_error", client=client)
