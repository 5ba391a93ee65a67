"""Auth, the framework's own errors in our shape, health, readiness, metrics, OpenAPI."""

from __future__ import annotations

import pytest
import service_helpers as helpers


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    settings = helpers.make_settings(tmp_path_factory.mktemp("keyed"), api_keys=["k-one", "k-two"],
                             metrics_public=False)
    with helpers.running_app(settings) as client:
        yield client


def test_every_v1_route_needs_a_key(keyed):
    routes = [("GET", "/v1/datasets"), ("POST", "/v1/datasets"), ("GET", "/v1/datasets/ds_x"),
              ("GET", "/v1/probes"), ("POST", "/v1/probes"), ("GET", "/v1/probes/pr_x"),
              ("GET", "/v1/probes/pr_x/events"), ("POST", "/v1/probes/pr_x/cancel"),
              ("GET", "/v1/probes/pr_x/result")]
    for method, path in routes:
        response = keyed.request(method, path)
        helpers.assert_error(response, 401, "unauthorized", message="missing API key")
        assert response.headers["www-authenticate"] == "Bearer"
        wrong = keyed.request(method, path, headers={"Authorization": "Bearer nope"})
        helpers.assert_error(wrong, 401, "unauthorized", message="invalid API key")
        assert "invalid_token" in wrong.headers["www-authenticate"]
        basic = keyed.request(method, path, headers={"Authorization": "Basic azpv"})
        helpers.assert_error(basic, 401, "unauthorized")
    assert keyed.get("/healthz").status_code == 200


def test_valid_keys_work_and_health_stays_open(keyed):
    for key in ("k-one", "k-two"):
        response = keyed.get("/v1/datasets", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
    uploaded = keyed.post("/v1/datasets", content=helpers.jsonl(helpers.QUESTIONS[:4]),
                          headers={"Authorization": "Bearer k-one",
                                   "Content-Type": "application/x-ndjson"})
    assert uploaded.status_code == 201
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/readyz").status_code == 200


def test_metrics_need_the_key_unless_public(keyed, client):
    helpers.assert_error(keyed.get("/metrics"), 401, "unauthorized")
    ok = keyed.get("/metrics", headers={"Authorization": "Bearer k-two"})
    assert ok.status_code == 200 and "slick_jobs" in ok.text
    assert client.get("/metrics").status_code == 200  # the shared app has no keys


def test_unknown_route_and_wrong_method(client):
    helpers.assert_error(client.get("/v2/nothing"), 404, "not_found", param=None,
                 message="no route GET /v2/nothing", client=client)
    response = client.delete("/v1/datasets")
    helpers.assert_error(response, 405, "method_not_allowed", message="DELETE not allowed")
    assert response.headers["allow"]


def test_metrics_are_exported(client):
    dataset = helpers.upload(client, helpers.QUESTIONS[:8], name="metrics.jsonl")
    before = helpers.metric(client, "slick_rows_probed_total")
    probe = helpers.start_probe(client, dataset["id"])
    helpers.wait_status(client, probe["id"], "succeeded")
    text = client.get("/metrics").text
    for name in ("slick_jobs", "slick_rows_probed_total", "slick_generations_total",
                 "slick_generated_tokens_total", "slick_rows_per_second",
                 "slick_job_duration_seconds_bucket", "slick_queue_depth",
                 "slick_http_request_duration_seconds_bucket"):
        assert name in text, name
    assert helpers.metric(client, "slick_rows_probed_total") == before + 8
    assert helpers.metric(client, "slick_jobs", 'state="succeeded"') >= 1
    assert helpers.metric(client, "slick_generations_total") > 0
    assert 'route="/v1/probes/{probe_id}"' in text  # templates, never raw ids
    assert probe["id"] not in text


def test_openapi_documents_routes_and_error_shape(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/datasets", "/v1/datasets/{dataset_id}", "/v1/probes",
                 "/v1/probes/{probe_id}", "/v1/probes/{probe_id}/events",
                 "/v1/probes/{probe_id}/cancel", "/v1/probes/{probe_id}/result", "/healthz",
                 "/readyz", "/metrics"):
        assert path in paths, path
        for operation in paths[path].values():
            assert operation.get("description") or operation.get("summary")
    upload_op = paths["/v1/datasets"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert upload_op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorResponse")
    assert client.get("/docs").status_code == 200


def test_readyz_reports_a_default_engine_that_cannot_load(tmp_path):
    settings = helpers.make_settings(tmp_path, engine="transformers", model="/no/such/model",
                             allowed_engines=[])
    with helpers.running_app(settings, wait_ready=False) as client:
        body = helpers.wait_until(lambda: (r := client.get("/readyz")).status_code == 503
                          and r.json()["status"] == "error" and r.json(), "load error")
        assert "not found" in body["error"] or "ModelNotFoundError" in body["error"]
        dataset = helpers.upload(client, helpers.QUESTIONS[:6], name="noload.jsonl")
        probe = helpers.start_probe(client, dataset["id"])
        failed = helpers.wait_status(client, probe["id"], "failed")
        assert "could not load" in failed["error"]
        assert client.get("/healthz").status_code == 200
