"""Bad fine-tune requests get the one error shape, with the parameter at fault, and start
nothing. No model runs here (probing uses the scripted FakeEngine; nothing gets trained)."""

from __future__ import annotations

import finetune_helpers as helpers
import pytest
from fastapi.testclient import TestClient
from finetune_helpers import assert_error
from http_support import TestClientTransport
from slick_client import Client, InvalidParamsError
from slick_curator.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory, model_path):
    settings = helpers.service_settings(tmp_path_factory.mktemp("ft-errors"), model_path,
                                engine_options={"greedy": {}, "delay_s": 0.05})
    with TestClient(create_app(settings, configure_logs=False),
                    raise_server_exceptions=False) as c:
        helpers.wait_until(lambda: c.get("/readyz").status_code == 200, "worker ready")
        yield c


@pytest.fixture(scope="module")
def ids(client):
    """A finished probe in which the (empty) fake script knows nothing: every row Unknown."""
    train = helpers.upload(client, helpers.rows(helpers.KNOWN + helpers.UNKNOWN), "train.jsonl")
    test = helpers.upload(client, helpers.rows(helpers.EVAL_KNOWN), "test.jsonl")
    return {"probe": helpers.probe(client, train["id"])["id"], "train_dataset": train["id"],
            "test_dataset": test["id"]}


def post(client, **body):
    return client.post("/v1/finetunes", json=body)


def test_unknown_probe_is_404(client, ids):
    assert_error(post(client, probe_id="pr_0123456789abcdef", eval_dataset_id=ids["test_dataset"]),
                 404, "not_found", param="probe_id", message="no probe 'pr_0123456789abcdef'")


def test_unfinished_probe_is_409(client, ids):
    many = helpers.rows([(f"Country{i}", f"City{i}") for i in range(300)])
    big = helpers.upload(client, many, "big.jsonl")
    running = helpers.probe(client, big["id"], wait=False)
    error = assert_error(post(client, probe_id=running["id"], eval_dataset_id=ids["test_dataset"]),
                         409, "conflict", param="probe_id")
    assert "has no result yet" in error["message"] and "succeeded" in error["message"]
    client.post(f"/v1/probes/{running['id']}/cancel")


def test_a_variant_left_empty_by_filtering_is_400_naming_it(client, ids):
    before = client.get("/v1/finetunes").json()["count"]
    error = assert_error(post(client, probe_id=ids["probe"], eval_dataset_id=ids["test_dataset"],
                              variants=["original", "filter"]),
                         400, "invalid_request", param="variants")
    assert "variant 'filter' has no training rows" in error["message"]
    assert "Unknown" in error["message"]
    # Nothing was started: no fine-tune and no probe of the evaluation set.
    assert client.get("/v1/finetunes").json()["count"] == before
    probed = {p["dataset_id"] for p in client.get("/v1/probes").json()["data"]}
    assert ids["test_dataset"] not in probed


def test_original_and_relabel_need_no_known_rows(client, ids):
    response = post(client, probe_id=ids["probe"], eval_dataset_id=ids["test_dataset"],
                    variants=["relabel"], params={"epochs": 1})
    assert response.status_code == 202, response.text
    job = response.json()
    assert client.post(f"/v1/finetunes/{job['id']}/cancel").json()["status"] == "cancelled"


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"params": {"epochs": 0}}, "params.epochs", "greater than or equal to 1"),
    ({"params": {"method": "qlora"}}, "params.method", "'lora' or 'full'"),
    ({"params": {"learning_rate": 5e9}}, "params.learning_rate", "less than or equal"),
    ({"params": {"typo": 1}}, "params.typo", "Extra inputs"),
    ({"variants": ["bogus"]}, "variants.0", "'original', 'filter', 'relabel' or 'trim'"),
    ({"variants": ["filter", "filter"]}, "variants", "distinct"),
    ({"variants": []}, "variants", "at least 1"),
])
def test_bad_parameters_are_422_naming_the_field(client, ids, body, param, message):
    full = {"probe_id": ids["probe"], "eval_dataset_id": ids["test_dataset"], **body}
    assert_error(post(client, **full), 422, "validation_error", param=param, message=message)


def test_evaluation_set_must_be_given_once_and_exist(client, ids):
    assert_error(post(client, probe_id=ids["probe"]), 400, "invalid_request",
                 param="eval_dataset_id", message="exactly one of")
    assert_error(post(client, probe_id=ids["probe"], eval_dataset_id="ds_00000000deadbeef"),
                 404, "not_found", param="eval_dataset_id")
    assert_error(post(client, probe_id=ids["probe"], eval_probe_id="pr_00000000deadbeef"),
                 404, "not_found", param="eval_probe_id")


def test_evaluation_overlapping_all_training_subjects_is_400(client, ids):
    assert_error(post(client, probe_id=ids["probe"], eval_dataset_id=ids["train_dataset"]),
                 400, "invalid_request", param="probe_id",
                 message="share a question or subject with the evaluation set")


def test_unknown_finetune_routes_are_404(client):
    for path in ("", "/report", "/report.json", "/predictions"):
        assert_error(client.get(f"/v1/finetunes/ft_0123456789abcdef{path}"), 404, "not_found",
                     param="finetune_id")
    assert_error(client.post("/v1/finetunes/ft_0123456789abcdef/cancel"), 404, "not_found")


def test_the_client_checks_parameters_before_sending(client, ids):
    before = client.get("/v1/finetunes").json()["count"]
    with Client("http://testserver", transport=TestClientTransport(client)) as c:
        with pytest.raises(InvalidParamsError) as caught:
            c.finetunes.create(ids["probe"], eval_dataset_id=ids["test_dataset"], epochs=0)
        assert caught.value.param == "epochs"
        with pytest.raises(InvalidParamsError, match="learning_rate"):  # did you mean …
            c.finetunes.create(ids["probe"], eval_dataset_id=ids["test_dataset"], lr=1e-3)
    assert client.get("/v1/finetunes").json()["count"] == before  # nothing was sent
