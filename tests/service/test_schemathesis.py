"""Property-based API fuzzing from our own /openapi.json: no input may cause a 5xx."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from service_helpers import QUESTIONS, jsonl, make_settings, running_app
from slick_curator.api.uploads import RAW_TYPES
from slick_curator.app import create_app


class _OwnLifespan:
    """The app minus its lifespan, which the module fixture runs once: schemathesis would
    restart it (and so the worker process) for every operation."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


@schemathesis.serializer(*RAW_TYPES)
def _raw_body(ctx, value):
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


_DATA_DIR = Path(tempfile.mkdtemp(prefix="slick-fuzz-"))
APP = create_app(make_settings(_DATA_DIR, delay_s=0.0), configure_logs=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", _OwnLifespan(APP))


@pytest.fixture(scope="module", autouse=True)
def _running_app():
    """The real app running (worker ready) with one real dataset, for the whole module."""
    with running_app(app=APP) as client:
        response = client.post("/v1/datasets", content=jsonl(QUESTIONS[:6]),
                               headers={"Content-Type": "application/x-ndjson"})
        assert response.status_code in (200, 201), response.text
        yield
    shutil.rmtree(_DATA_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, phases=[Phase.explicit, Phase.generate], deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call_and_validate(checks=[not_a_server_error], timeout=30)
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] == response.status_code and error["type"] and error["message"]
