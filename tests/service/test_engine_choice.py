"""Which engine a probe may run on (issue 16): exactly SLICK_ALLOWED_ENGINES plus the server's
own, any registered name (openai too), and a stored job never switches the worker to an engine
that is not allowed now. Probe creation is validated from the stored dataset records."""

from __future__ import annotations

import uuid

from service_helpers import (
    QUESTIONS,
    assert_error,
    make_settings,
    running_app,
    start_probe,
    upload,
    wait_status,
)
from slick_curator.settings import Settings
from slick_curator.store import ProbeRecord

ROWS = QUESTIONS[:6]


def default_engine_settings(tmp_path) -> Settings:
    """The test settings with SLICK_ALLOWED_ENGINES left at its default."""
    values = make_settings(tmp_path).model_dump()
    values.pop("allowed_engines")
    return Settings(_env_file=None, **values)


def test_by_default_only_the_servers_own_engine(tmp_path):
    settings = default_engine_settings(tmp_path)
    assert settings.allowed_engines == []
    with running_app(settings) as client:
        dataset = upload(client, ROWS, name="own.jsonl")
        for engine in ("transformers", "vllm", "openai"):
            response = client.post("/v1/probes", json={"dataset_id": dataset["id"],
                                                       "engine": engine})
            assert_error(response, 400, "invalid_request", param="engine",
                         message=f"engine {engine!r} is not allowed on this server; allowed: "
                                 "fake (SLICK_ALLOWED_ENGINES)")
        assert start_probe(client, dataset["id"], engine="fake", k_shot=1)["engine"] == "fake"


def test_an_allowed_openai_engine_can_be_chosen(tmp_path):
    with running_app(make_settings(tmp_path, allowed_engines=["openai"])) as client:
        dataset = upload(client, ROWS, name="remote.jsonl")
        response = client.post("/v1/probes", json={"dataset_id": dataset["id"],
                                                   "engine": "openai", "k_shot": 1})
        assert response.status_code == 202, response.text
        assert response.json()["engine"] == "openai"
        assert_error(client.post("/v1/probes", json={"dataset_id": dataset["id"],
                                                     "engine": "Open AI"}),
                     422, "validation_error", param="engine")


def test_an_allowed_name_that_is_no_engine_is_400(tmp_path):
    with running_app(make_settings(tmp_path, allowed_engines=["tensorrt"])) as client:
        dataset = upload(client, ROWS, name="typo.jsonl")
        response = client.post("/v1/probes", json={"dataset_id": dataset["id"],
                                                   "engine": "tensorrt"})
        assert_error(response, 400, "invalid_request", param="engine",
                     message="not an engine of this server")


def test_a_stored_job_never_switches_to_an_engine_not_allowed(tmp_path):
    with running_app(make_settings(tmp_path)) as client:
        services = client.app.state.services
        dataset = upload(client, ROWS, name="stale.jsonl")
        worker = services.jobs.worker_pid
        # A job stored while another configuration allowed vLLM.
        record = ProbeRecord(id="pr_" + uuid.uuid4().hex[:24], dataset_id=dataset["id"],
                             exemplar_dataset_id=None, status="queued", model="fake",
                             engine="vllm", params={"k_shot": 1}, shard_size=4, total=6)
        services.store.probes.insert(record)
        services.jobs.submit(record.id)
        failed = wait_status(client, record.id, "failed")
        assert "engine 'vllm' is not allowed on this server now" in failed["error"]
        assert services.jobs.worker_pid == worker  # the worker was never restarted
        after = start_probe(client, dataset["id"], k_shot=1)
        assert wait_status(client, after["id"], "succeeded")["progress"]["done"] == 6
        assert services.jobs.worker_pid == worker


def test_probe_creation_checks_the_exemplar_pool_from_the_records(client):
    data = upload(client, ROWS, name="pool-data.jsonl")  # groups P17 and P36, 3 rows each
    only_p17 = upload(client, [r for r in QUESTIONS if r["relation"] == "P17"][:5],
                      name="pool-p17.jsonl")
    response = client.post("/v1/probes", json={"dataset_id": data["id"], "k_shot": 2,
                                               "exemplar_dataset_id": only_p17["id"]})
    assert_error(response, 400, "invalid_request", param="exemplar_dataset_id",
                 message="group 'P36' has no exemplars; available groups: P17")
    response = client.post("/v1/probes", json={"dataset_id": data["id"], "k_shot": 3})
    assert_error(response, 400, "invalid_request", param="k_shot",
                 message="group 'P17' has 3 distinct exemplar questions; k_shot=3 needs at "
                         "least 4")
    ok = start_probe(client, data["id"], k_shot=2)
    assert wait_status(client, ok["id"], "succeeded")["progress"]["done"] == 6
    zero = start_probe(client, data["id"], k_shot=0, exemplar_dataset_id=only_p17["id"])
    assert wait_status(client, zero["id"], "succeeded")["progress"]["done"] == 6
