"""Helpers for service tests: the real app (real ASGI stack, DuckDB, Parquet, worker process)
with the scripted FakeEngine in the worker, and assertions on the one error shape."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from slick_curator.app import create_app
from slick_curator.settings import Settings

# 30 questions in two groups; the fake model knows the answer to two in three.
QUESTIONS = [
    {"question": f"What is the capital of region {i}?", "answers": [f"City{i}"],
     "relation": "P36" if i % 2 else "P17"}
    for i in range(30)
]
SCRIPT = {q["question"]: (q["answers"][0] if i % 3 else "Nowhere")
          for i, q in enumerate(QUESTIONS)}
SMALL_PROBE = {"n_prompts": 2, "k_shot": 2, "n_samples": 3, "mode": "adaptive"}


def make_settings(data_dir: Path, **overrides) -> Settings:
    options = {"greedy": SCRIPT, "delay_s": overrides.pop("delay_s", 0.02)}
    values = {"data_dir": data_dir, "engine": "fake", "model": "fake",
              "engine_options": options, "shard_size": 4, "allowed_engines": [],
              "progress_interval_s": 0.0, "sse_heartbeat_s": 0.3, "shutdown_grace_s": 2.0,
              "max_upload_bytes": 200_000}
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def running_app(settings: Settings | None = None, *, app=None,
                wait_ready: bool = True) -> Iterator[TestClient]:
    """The app (built from `settings` unless given) with its lifespan running; shut down on
    exit."""
    app = app or create_app(settings, configure_logs=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        if wait_ready:
            wait_until(lambda: client.get("/readyz").status_code == 200, "worker ready")
        yield client


def wait_until(condition, what: str, timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(client: TestClient, rows=QUESTIONS, *, name: str = "data.jsonl", **params) -> dict:
    response = client.post("/v1/datasets", params={"name": name, **params}, content=jsonl(rows),
                           headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code in (200, 201), response.text
    return response.json()


def start_probe(client: TestClient, dataset_id: str, **params) -> dict:
    response = client.post("/v1/probes", json={"dataset_id": dataset_id, **SMALL_PROBE, **params})
    assert response.status_code == 202, response.text
    return response.json()


def wait_status(client: TestClient, probe_id: str, *statuses: str, timeout: float = 60) -> dict:
    def check():
        probe = client.get(f"/v1/probes/{probe_id}").json()
        return probe if probe["status"] in statuses else None

    return wait_until(check, f"probe {probe_id} to be {'/'.join(statuses)}", timeout)


def result_table(client: TestClient, probe_id: str) -> pa.Table:
    response = client.get(f"/v1/probes/{probe_id}/result")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    return pq.read_table(io.BytesIO(response.content))


def assert_error(response, code: int, type_: str, *, param: str | None = ...,
                 message: str | None = None, client: TestClient | None = None) -> dict:
    """The one error shape, with this status/type (and param and message part, if given)."""
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"type", "message", "param", "code", "errors"}, error
    assert error["type"] == type_, error
    assert error["code"] == code
    if param is not ...:
        assert error["param"] == param, error
    if message is not None:
        assert message in error["message"], error
    if client is not None:
        assert client.get("/healthz").status_code == 200
    return error


def metric(client: TestClient, name: str, labels: str = "") -> float:
    text = client.get("/metrics").text
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {wanted} not found")
