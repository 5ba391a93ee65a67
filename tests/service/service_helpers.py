"""Helpers for service tests: the real app (real ASGI stack, DuckDB, Parquet, worker process)
with the scripted FakeEngine in the worker. Waiting, uploads and the error-shape assertion come
from http_support and are re-exported here."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import http_support
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from http_support import assert_error, jsonl, sse_events, wait_until  # noqa: F401 - the tests' imports
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






def upload(client: TestClient, rows=QUESTIONS, *, name: str = "data.jsonl", **params) -> dict:
    return http_support.upload(client, rows, name, **params)


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




def metric(client: TestClient, name: str, labels: str = "") -> float:
    text = client.get("/metrics").text
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {wanted} not found")
