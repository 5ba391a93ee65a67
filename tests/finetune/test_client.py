"""`client.finetunes` (sync and async) against a scripted server (httpx.MockTransport)."""

from __future__ import annotations

import io
import json

import anyio
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from slick_client import (
    AsyncClient,
    Client,
    FinetuneFailedError,
    InvalidParamsError,
    JobFailedError,
    NotFoundError,
)

NOW = "2026-01-01T00:00:00Z"


def job(status: str, done: int = 0, **extra) -> dict:
    body = {"id": "ft_1", "probe_id": "pr_1", "eval_dataset_id": "ds_2",
            "eval_probe_id": "pr_2", "status": status, "model": "smollm2-135m",
            "variants": ["original", "filter", "relabel"], "params": {},
            "progress": {"done": done, "total": 9, "stage": "training"}, "created_at": NOW}
    body.update(extra)
    return body


def parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"variant": ["original"], "correct": [True]}), sink)
    return sink.getvalue()


class Server:
    """Answers like the service; records what was sent."""

    def __init__(self, final: str = "succeeded") -> None:
        self.final = final
        self.sent: list[httpx.Request] = []
        self.polls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/finetunes":
            return httpx.Response(202, json=job("queued"))
        if path == "/v1/finetunes/ft_1":
            self.polls += 1
            if self.polls < 3:
                return httpx.Response(200, json=job("running", done=self.polls))
            return httpx.Response(200, json=job(self.final, done=9, error=None if
                                                self.final == "succeeded" else "boom"))
        if path == "/v1/finetunes/ft_1/predictions":
            return httpx.Response(200, content=parquet_bytes(),
                                  headers={"Content-Type": "application/vnd.apache.parquet"})
        if path == "/v1/finetunes/ft_1/report":
            return httpx.Response(200, text="<!doctype html><svg></svg>")
        return httpx.Response(404, json={"error": {"type": "not_found", "message": "no route",
                                                   "param": None, "code": 404, "errors": None}})


def test_create_sends_only_what_was_set_and_wait_polls_to_the_end(tmp_path):
    server = Server()
    with Client("http://slick.test", transport=httpx.MockTransport(server)) as c:
        created = c.finetunes.create("pr_1", eval_dataset_id="ds_2", variants=["filter"],
                                     epochs=2, kl_weight=0.1)
        assert created.status == "queued"
        body = json.loads(server.sent[0].content)
        assert body == {"probe_id": "pr_1", "eval_dataset_id": "ds_2", "variants": ["filter"],
                        "params": {"epochs": 2, "kl_weight": 0.1}}
        done = c.finetunes.wait("ft_1", poll_interval=0.01)
        assert done.status == "succeeded" and server.polls == 3
        table = c.finetunes.predictions("ft_1")
        assert table.column("variant").to_pylist() == ["original"]
        saved = c.finetunes.predictions("ft_1", path=tmp_path / "p.parquet")
        assert pq.read_table(saved).equals(table)
        assert c.finetunes.report("ft_1").startswith("<!doctype html>")
        with pytest.raises(NotFoundError):
            c.finetunes.report_json("ft_1")


def test_wait_shows_steps_rate_eta_and_the_running_variant(capsys):
    class Running(Server):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            response = super().__call__(request)
            if self.polls == 1:
                progress = {"done": 4, "total": 9, "rate": 0.5, "eta_s": 10.0,
                            "stage": "training", "variant": "filter", "epoch": 2}
                return httpx.Response(200, json=job("running", progress=progress))
            return response

    with Client("http://slick.test", transport=httpx.MockTransport(Running())) as c:
        c.finetunes.wait("ft_1", progress=True, poll_interval=0.01)
    shown = capsys.readouterr().err
    assert "fine-tune ft_1" in shown and "4/9 steps" in shown and "9/9 steps" in shown
    assert "0.5 steps/s" in shown and "ETA 00:10" in shown
    assert "filter training (epoch 2)" in shown and "succeeded" in shown


def test_wait_raises_a_job_failed_error_naming_the_finetune():
    with (Client("http://slick.test", transport=httpx.MockTransport(Server("failed"))) as c,
          pytest.raises(FinetuneFailedError, match="fine-tune ft_1 failed: boom") as caught):
        c.finetunes.wait("ft_1", poll_interval=0.01)
    assert isinstance(caught.value, JobFailedError) and caught.value.status == "failed"


def test_bad_params_are_caught_before_sending():
    server = Server()
    with Client("http://slick.test", transport=httpx.MockTransport(server)) as c:
        with pytest.raises(InvalidParamsError, match="batch_size"):
            c.finetunes.create("pr_1", eval_dataset_id="ds_2", batch_size=0)
        with pytest.raises(InvalidParamsError, match="variants"):
            c.finetunes.create("pr_1", eval_dataset_id="ds_2", variants=["nope"])
    assert server.sent == []


def test_the_async_client_has_the_same_surface():
    server = Server()

    async def main():
        async with AsyncClient("http://slick.test",
                               transport=httpx.MockTransport(server)) as c:
            await c.finetunes.create("pr_1", eval_probe_id="pr_2")
            done = await c.finetunes.wait("ft_1", poll_interval=0.01)
            table = await c.finetunes.predictions("ft_1")
            return done, table

    done, table = anyio.run(main)
    assert done.status == "succeeded" and table.num_rows == 1
    assert json.loads(server.sent[0].content) == {"probe_id": "pr_1", "eval_probe_id": "pr_2",
                                                  "params": {}}
