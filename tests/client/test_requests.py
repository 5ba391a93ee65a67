"""Each method sends the request the server contract describes, on Client and AsyncClient."""

from __future__ import annotations

import json

import httpx
import pytest
from client_support import BASE, Runner, Server, dataset_json, probe_json
from slick_client import (
    AsyncClient,
    Client,
    DatasetPublic,
    DatasetsPublic,
    InvalidParamsError,
    ProbePublic,
    ProbesPublic,
)


def test_datasets_get(run: Runner, server: Server):
    server.route("GET", "/v1/datasets/ds1", httpx.Response(200, json=dataset_json()))
    ds = run(lambda c: c.datasets.get("ds1"))
    assert isinstance(ds, DatasetPublic) and ds.id == "ds1" and ds.rows == 3
    (req,) = server.requests
    assert req.method == "GET" and str(req.url) == f"{BASE}/v1/datasets/ds1"
    assert req.headers["accept"] == "application/json"
    assert req.headers["user-agent"].startswith("slick-client/")


def test_ids_are_one_path_segment(run: Runner, server: Server):
    server.route("GET", "/v1/datasets/a/../b", httpx.Response(200, json=dataset_json()))
    run(lambda c: c.datasets.get("a/../b"))
    assert server.requests[0].url.raw_path == b"/v1/datasets/a%2F..%2Fb"


def test_datasets_list(run: Runner, server: Server):
    page = {"data": [dataset_json(), dataset_json(id="ds2")], "count": 7}
    server.route("GET", "/v1/datasets", httpx.Response(200, json=page))
    result = run(lambda c: c.datasets.list(limit=2, offset=4))
    assert isinstance(result, DatasetsPublic)
    assert [d.id for d in result.data] == ["ds1", "ds2"] and result.count == 7
    assert dict(server.requests[0].url.params) == {"limit": "2", "offset": "4"}
    run(lambda c: c.datasets.list())
    assert dict(server.requests[1].url.params) == {}


def test_probes_create_sends_flat_json_of_what_was_set(run: Runner, server: Server):
    server.route("POST", "/v1/probes", httpx.Response(202, json=probe_json("queued")))
    job = run(lambda c: c.probes.create("ds1", mode="full", n_prompts=3, temperature=0.7,
                                        exemplar_dataset_id="ds0", model="m", engine="vllm"))
    assert isinstance(job, ProbePublic) and job.status == "queued"
    (req,) = server.requests
    assert req.method == "POST" and req.url.path == "/v1/probes"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(server.bodies[0]) == {
        "dataset_id": "ds1", "exemplar_dataset_id": "ds0", "model": "m", "engine": "vllm",
        "mode": "full", "n_prompts": 3, "temperature": 0.7,
    }


def test_probes_create_minimal_body(run: Runner, server: Server):
    server.route("POST", "/v1/probes", httpx.Response(202, json=probe_json("queued")))
    run(lambda c: c.probes.create("ds1"))
    assert json.loads(server.bodies[0]) == {"dataset_id": "ds1"}


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"n_prompts": 0}, "n_prompts", "greater than or equal to 1"),
        ({"mode": "turbo"}, "mode", "'adaptive', 'full', 'fast' or 'exact'"),
        ({"temperature": 0}, "temperature", "greater than 0"),
        ({"n_prompt": 3}, "n_prompt", "Did you mean 'n_prompts'"),
        ({"engine": "Torch Engine"}, "engine", "should match pattern"),
    ],
)
def test_probes_create_validates_locally_and_sends_nothing(run: Runner, server: Server,
                                                           params, param, words):
    with pytest.raises(InvalidParamsError) as info:
        run(lambda c: c.probes.create("ds1", **params))
    assert info.value.param == param
    assert words in info.value.message
    assert server.requests == []


def test_probes_get_list_cancel(run: Runner, server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(200, json=probe_json(done=4)))
    server.route("GET", "/v1/probes", httpx.Response(200, json={"data": [probe_json()],
                                                                "count": 1}))
    server.route("POST", "/v1/probes/p1/cancel",
                 httpx.Response(202, json=probe_json("cancelled")))
    job = run(lambda c: c.probes.get("p1"))
    assert job.progress.done == 4 and job.progress.rate == 2.5
    page = run(lambda c: c.probes.list(limit=5, offset=0, status="running"))
    assert isinstance(page, ProbesPublic) and page.count == 1
    assert dict(server.requests[1].url.params) == {"limit": "5", "offset": "0",
                                                   "status": "running"}
    cancelled = run(lambda c: c.probes.cancel("p1"))
    assert cancelled.status == "cancelled"
    assert (server.requests[2].method, server.requests[2].url.path) == (
        "POST", "/v1/probes/p1/cancel")
    assert server.bodies[2] == b""


def test_health_and_ready(run: Runner, server: Server):
    server.route("GET", "/healthz", httpx.Response(200, json={"status": "ok"}))
    server.route("GET", "/readyz", httpx.Response(200, json={"status": "ready"}),
                 httpx.Response(503, json={"error": {"type": "unavailable",
                                                     "message": "loading", "code": 503}}))
    assert run(lambda c: c.health()) == {"status": "ok"}
    assert run(lambda c: c.ready()) is True
    assert run(lambda c: c.ready()) is False
    assert len(server.calls("GET", "/readyz")) == 2  # a not-ready 503 is an answer, not retried


def test_bearer_auth_header(run: Runner, server: Server):
    server.route("GET", "/healthz", httpx.Response(200, json={}))
    run(lambda c: c.health(), api_key="sekret")
    assert server.requests[0].headers["authorization"] == "Bearer sekret"
    run(lambda c: c.health())
    assert "authorization" not in server.requests[1].headers


def test_env_defaults(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLICK_BASE_URL", "http://from-env:9000/")
    monkeypatch.setenv("SLICK_API_KEY", "envkey")
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with Client(transport=httpx.MockTransport(handler)) as c:
        assert c.base_url == "http://from-env:9000"
        c.health()
    assert str(seen[0].url) == "http://from-env:9000/healthz"
    assert seen[0].headers["authorization"] == "Bearer envkey"
    monkeypatch.delenv("SLICK_BASE_URL")
    monkeypatch.delenv("SLICK_API_KEY")
    with Client(transport=httpx.MockTransport(handler)) as c:
        assert c.base_url == "http://127.0.0.1:8000" and c.api_key is None


def test_base_url_with_path_prefix(server: Server):
    server.route("GET", "/slick/v1/probes/p1", httpx.Response(200, json=probe_json()))
    with Client(f"{BASE}/slick/", transport=httpx.MockTransport(server)) as c:
        c.probes.get("p1")
    assert server.requests[0].url.path == "/slick/v1/probes/p1"


def test_constructor_is_keyword_only_and_checks_arguments():
    with pytest.raises(TypeError):
        Client("http://x", "key")  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_retries"):
        Client("http://x", max_retries=-1)
    with pytest.raises(ValueError, match="not both"):
        Client("http://x", transport=httpx.MockTransport(lambda r: httpx.Response(200)),
               http_client=httpx.Client())


def test_timeout_is_passed_per_request(server: Server):
    server.route("GET", "/healthz", httpx.Response(200, json={}))
    with server.client(timeout=7.5) as c:
        c.health()
    assert server.requests[0].extensions["timeout"] == {
        "connect": 7.5, "read": 7.5, "write": 7.5, "pool": 7.5}


def test_caller_http_client_is_used_and_left_open(server: Server):
    http = httpx.Client(transport=httpx.MockTransport(server))
    server.route("GET", "/healthz", httpx.Response(200, json={}))
    with Client(BASE, http_client=http) as c:
        c.health()
    assert not http.is_closed
    http.close()


def test_context_managers_close_own_pool():
    sync = Client("http://x")
    with sync:
        pass
    assert sync._http.is_closed

    import asyncio

    async def main() -> AsyncClient:
        async with AsyncClient("http://x") as client:
            return client

    assert asyncio.run(main())._http.is_closed
