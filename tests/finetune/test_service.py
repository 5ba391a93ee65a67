"""POST /v1/finetunes end to end: a real (tiny) LoRA fine-tune of SmolLM2-135M per variant,
driven through the real client, the ASGI stack, the DuckDB store and the training processes.
Probing uses the scripted FakeEngine (so categories are known); training is real."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from finetune_helpers import (
    EVAL_KNOWN,
    EVAL_UNKNOWN,
    KNOWN,
    UNKNOWN,
    assert_error,
    probe,
    rows,
    service_settings,
    sse_events,
    upload,
    wait_finetune,
    wait_until,
)
from http_support import TestClientTransport
from safetensors.torch import load_file
from slick_client import Client, ConflictError, FinetuneFailedError
from slick_curator.app import create_app
from slick_curator.probing.matching import Matcher

pytestmark = pytest.mark.model

TINY = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3, "max_new_tokens": 6,
        "bootstrap": 200, "dev_fraction": 0.15}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory, model_path):
    settings = service_settings(tmp_path_factory.mktemp("ft-service"), model_path)
    with TestClient(create_app(settings, configure_logs=False),
                    raise_server_exceptions=False) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, "worker ready")
        yield client, settings


@pytest.fixture(scope="module")
def probes(app_client):
    client, _ = app_client
    train = upload(client, rows(KNOWN + UNKNOWN), "train.jsonl")
    test = upload(client, rows(EVAL_KNOWN + EVAL_UNKNOWN), "test.jsonl")
    return {"train": probe(client, train["id"]), "test_dataset": test}


@pytest.fixture(scope="module")
def finished(app_client, probes):
    """One fine-tune of all three variants, created and awaited through the real client."""
    client, settings = app_client
    with Client("http://testserver", transport=TestClientTransport(client)) as c:
        job = c.finetunes.create(probes["train"]["id"],
                                 eval_dataset_id=probes["test_dataset"]["id"],
                                 save_checkpoints=True, **TINY)
        assert job.status == "queued" and job.progress.stage == "eval_probe"
        # Followed as server-sent events until it ends: every state it passed through.
        response = client.get(f"/v1/finetunes/{job.id}/events")
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [(name, json.loads(data)) for name, data in sse_events(response.text)
                  if name != "comment"]
        assert [name for name, _ in events[:-1]] == ["progress"] * (len(events) - 1)
        assert events[-1][0] == "end" and events[-1][1]["status"] != "running"
        seen = [state for _, state in events]
        wait_finetune(client, job.id, "succeeded", "failed", "cancelled")
        done = c.finetunes.wait(job.id, timeout=5)
        report = c.finetunes.report_json(job.id)
        predictions = c.finetunes.predictions(job.id)
        html = c.finetunes.report(job.id)
    return {"job": done, "seen": seen, "report": report, "predictions": predictions,
            "html": html, "folder": settings.data_dir / "finetunes" / job.id}


def test_the_endpoint_trains_every_variant_and_the_weights_change(finished):
    job, report = finished["job"], finished["report"]
    assert job.status == "succeeded", job.error
    assert [v.variant for v in report.variants] == ["original", "filter", "relabel"]
    # Progress was reported while training: steps of all variants, rows, rate, stage.
    training = [s for s in finished["seen"] if s["status"] == "running"
                and s["progress"]["stage"] == "training" and s["progress"]["done"] > 0]
    assert training, "no progress seen while training"
    assert all(s["progress"]["total"] == 3 for s in training)  # one step per variant
    assert any(s["progress"]["rate"] and s["progress"]["eta_s"] is not None for s in training)
    assert (job.progress.done, job.progress.total) == (3, 3)
    assert job.progress.rows_done == job.progress.rows_total == sum(
        v.train_rows for v in report.variants)
    for variant in report.variants:
        assert variant.weight_change > 0
        adapter = load_file(finished["folder"] / "variants" / variant.variant / "checkpoints"
                            / "convergence" / "adapter_model.safetensors")
        lora_b = {k: t for k, t in adapter.items() if "lora_B" in k}
        # LoRA's B matrices start at zero: any non-zero entry was put there by training.
        assert lora_b and all(t.abs().sum() > 0 for t in lora_b.values())
        assert {k.split(".")[-3] for k in lora_b} == {"q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"}
        assert job.results[variant.variant]["accuracy"] == variant.convergence.overall.accuracy.value


def test_variants_are_the_curation_policies(finished):
    by_name = {v.variant: v for v in finished["report"].variants}
    report = finished["report"]
    assert report.dev_rows == 2 and report.excluded_rows == 0
    unknown_rows = by_name["original"].train_categories.get("Unknown", 0)
    assert unknown_rows > 0
    assert by_name["filter"].train_rows == by_name["original"].train_rows - unknown_rows
    assert "Unknown" not in by_name["filter"].train_categories
    assert by_name["relabel"].train_rows == by_name["original"].train_rows
    assert by_name["relabel"].relabelled_rows == unknown_rows
    assert by_name["original"].train_rows + report.dev_rows == len(KNOWN) + len(UNKNOWN)


def _rate(flags) -> float:
    return float(np.mean(flags))


def test_report_numbers_are_recomputed_from_the_predictions(finished):
    table, report = finished["predictions"], finished["report"]
    assert table.num_rows == 3 * 2 * report.eval_rows
    records = table.to_pylist()
    phrase = report.params.abstention
    for record in records:  # the judgement of every answer, redone here
        abstained = not record["prediction"].strip() or Matcher([phrase])(record["prediction"])
        correct = not abstained and Matcher(record["gold"])(record["prediction"])
        assert (record["correct"], record["abstained"]) == (correct, abstained), record
        assert record["hallucinated"] == (not abstained and not correct)
    for variant in report.variants:
        for checkpoint in ("early_stop", "convergence"):
            mine = [r for r in records
                    if r["variant"] == variant.variant and r["checkpoint"] == checkpoint]
            metrics = getattr(variant, checkpoint).overall
            correct = [r["correct"] for r in mine]
            answered = [not r["abstained"] for r in mine]
            assert metrics.n == len(mine) == report.eval_rows
            assert metrics.accuracy.value == pytest.approx(_rate(correct))
            assert metrics.hallucination.value == pytest.approx(
                _rate([a and not c for a, c in zip(answered, correct, strict=True)]))
            assert metrics.abstention.value == pytest.approx(1 - _rate(answered))
            if any(answered):
                assert metrics.precision.value == pytest.approx(sum(correct) / sum(answered))
            for name in ("accuracy", "hallucination", "abstention"):
                interval = getattr(metrics, name)
                assert interval.low <= interval.value <= interval.high
            for category, m in getattr(variant, checkpoint).by_category.items():
                subset = [r["correct"] for r in mine if r["category"] == category]
                assert m.n == len(subset) and m.accuracy.value == pytest.approx(_rate(subset))
    # The evaluation set was probed too: its categories are the scripted ones.
    assert report.eval_categories == {"HighlyKnown": len(EVAL_KNOWN),
                                      "Unknown": len(EVAL_UNKNOWN)}


def test_report_html_is_self_contained_with_a_learning_curve_per_variant(app_client, finished):
    client, _ = app_client
    response = client.get(f"/v1/finetunes/{finished['job'].id}/report")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    for variant in ("original", "filter", "relabel"):
        assert f'data-chart="curve-{variant}"' in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert finished["html"] == html


def test_the_evaluation_probe_is_an_ordinary_probe_with_the_training_settings(app_client,
                                                                              finished, probes):
    client, _ = app_client
    eval_probe = client.get(f"/v1/probes/{finished['job'].eval_probe_id}").json()
    assert eval_probe["dataset_id"] == probes["test_dataset"]["id"]
    assert eval_probe["params"] == probes["train"]["params"]
    assert eval_probe["status"] == "succeeded"


def test_cancel_a_queued_and_a_running_finetune(app_client, probes, finished):
    client, _ = app_client
    body = {"probe_id": probes["train"]["id"], "eval_probe_id": finished["job"].eval_probe_id,
            "variants": ["original"], "params": {**TINY, "epochs": 50}}
    first = client.post("/v1/finetunes", json=body).json()
    second = client.post("/v1/finetunes", json=body).json()
    wait_until(lambda: (j := client.get(f"/v1/finetunes/{first['id']}").json())["status"]
               == "running" and j["progress"]["done"] >= 1, "training to start", 120)
    queued = client.post(f"/v1/finetunes/{second['id']}/cancel")
    assert queued.status_code == 202 and queued.json()["status"] == "cancelled"
    asked = time.monotonic()
    assert client.post(f"/v1/finetunes/{first['id']}/cancel").status_code == 202
    job = wait_finetune(client, first["id"], "cancelled", "failed", "succeeded", timeout=60)
    assert job["status"] == "cancelled" and time.monotonic() - asked < 60
    assert job["progress"]["done"] < job["progress"]["total"] == 50
    assert_error(client.get(f"/v1/finetunes/{first['id']}/report"), 409, "conflict",
                 param="finetune_id", message="cancelled")
    assert_error(client.post(f"/v1/finetunes/{first['id']}/cancel"), 409, "conflict",
                 message="already finished")
    with Client("http://testserver", transport=TestClientTransport(client)) as c:
        with pytest.raises(FinetuneFailedError, match="cancelled"):
            c.finetunes.wait(first["id"], timeout=5)
        with pytest.raises(ConflictError):
            c.finetunes.predictions(first["id"])
    listed = client.get("/v1/finetunes", params={"status": "cancelled"}).json()
    assert {first["id"], second["id"]} <= {j["id"] for j in listed["data"]}


def test_predictions_download_is_parquet(app_client, finished):
    client, _ = app_client
    response = client.get(f"/v1/finetunes/{finished['job'].id}/predictions")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.content))
    assert table.equals(finished["predictions"])
