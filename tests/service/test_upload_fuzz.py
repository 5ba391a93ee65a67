"""Property-based upload fuzzing (issue 16): random nesting, encodings, gzip layers, column
names, sizes and transports against the real app (ASGI stack, DuckDB, worker with the fake
engine). No 5xx, ever; memory stays bounded; and an accepted upload can be probed and every
result route serves it. Derandomized with a bounded budget, so CI sees the same examples;
FUZZ_RANDOM=1 FUZZ_SCALE=10 hunts further (random examples, ten times as many)."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from service_helpers import make_settings, running_app, wait_until
from upload_strategies import Request, uploads

LIMIT = 300_000  # bytes after every decompression
PEAK_BOUND = 64 * 2**20  # how far the app's process may grow while it answers one upload
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
FUZZ = settings(deadline=None, derandomize=not os.environ.get("FUZZ_RANDOM"), database=None,
                print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])
ROUTES = ["curated?format=jsonl", "curated?format=json", "curated?format=csv",
          "curated?format=parquet", "curated?policy=relabel&abstention==1%2B2&format=csv",
          "report", "report.json", "rows", "rows?columns=slick_category"]


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory):
    settings_ = make_settings(tmp_path_factory.mktemp("fuzz"), delay_s=0.0,
                              max_upload_bytes=LIMIT, max_rows=5000, shard_size=64)
    with running_app(settings_) as client:
        yield client


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def send(client, request: Request):
    """POST the upload; asserts this process (the app runs in it) did not grow by more than
    PEAK_BOUND at any moment while it answered: its peak RSS, reset just before."""
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident size, to the current one
    if request.filename is not None:
        response = client.post("/v1/datasets", params=request.params,
                               files={"file": (request.filename, request.body)})
    else:
        response = client.post("/v1/datasets", params=request.params, content=request.body,
                               headers=request.headers)
    growth = (_status_kib("VmHWM") - before) * 1024
    assert growth < PEAK_BOUND, f"peak RSS grew {growth >> 20} MiB ({request.notes})"
    return response


def check_answer(client, response, request: Request) -> dict | None:
    """No 5xx, the one error shape; the dataset record when the upload was accepted."""
    assert response.status_code < 500, (request.notes, response.text)
    event(f"upload answered {response.status_code}")
    body = response.json()
    if response.status_code >= 400:
        error = body["error"]
        assert error["code"] == response.status_code and error["type"] and error["message"]
        root = str(client.app.state.services.store.paths.root.resolve())
        assert root not in error["message"], error["message"]
        return None
    assert response.status_code in (200, 201), response.text
    assert client.get(f"/v1/datasets/{body['id']}").json()["rows"] == body["rows"]
    return body


@settings(FUZZ, max_examples=400 * SCALE)
@given(request=uploads())
def test_no_upload_gets_a_5xx(fuzz_client, request):
    check_answer(fuzz_client, send(fuzz_client, request), request)


@settings(FUZZ, max_examples=60 * SCALE)
@given(request=uploads(probeable=True), k_shot=st.sampled_from([0, 1]))
def test_an_accepted_upload_probes_and_every_result_route_serves(fuzz_client, request, k_shot):
    dataset = check_answer(fuzz_client, send(fuzz_client, request), request)
    if dataset is None or dataset["valid_rows"] == 0:
        return
    response = fuzz_client.post("/v1/probes", json={
        "dataset_id": dataset["id"], "k_shot": k_shot, "n_prompts": 1, "n_samples": 1})
    assert response.status_code < 500, response.text
    if response.status_code != 202:  # too few exemplars for k_shot=1: a clean 400
        assert response.json()["error"]["param"] == "k_shot", response.text
        return
    probe_id = response.json()["id"]
    event("probed")
    probe = wait_until(lambda: (p := fuzz_client.get(f"/v1/probes/{probe_id}").json())["status"]
                       in ("succeeded", "failed") and p, "the fuzzed probe", timeout=60)
    assert probe["status"] == "succeeded", (request.notes, probe["error"])
    for route in ROUTES:
        served = fuzz_client.get(f"/v1/probes/{probe_id}/{route}")
        assert served.status_code == 200, (route, request.notes, served.text[:500])
