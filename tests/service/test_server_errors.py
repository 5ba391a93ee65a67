"""A 500 never drops the connection, never shows a server path; on a real uvicorn server,
over one raw keep-alive socket (a test client would not show a dropped connection)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI
from server_process import SlickServer, free_port
from service_helpers import QUESTIONS, jsonl
from slick_curator.errors import UnhandledErrors, install_error_handlers


def _read_response(stream) -> tuple[int, dict[str, str], bytes] | None:
    status_line = stream.readline()
    if not status_line:
        return None  # the server closed the connection
    status = int(status_line.split()[1])
    headers = {}
    while (line := stream.readline().decode("latin-1").strip()):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return status, headers, body


def two_requests(port: int, first: str, second: str):
    """Both responses from ONE connection (None for the second if the server closed it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        stream = conn.makefile("rb")
        responses = []
        for path in (first, second):
            try:
                conn.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
                responses.append(_read_response(stream))
            except OSError:  # reset by the server
                responses.append(None)
        return responses


@pytest.fixture(scope="module")
def slick(tmp_path_factory):
    server = SlickServer(tmp_path_factory.mktemp("errors") / "data").start()
    yield server
    server.close()


def test_unreadable_result_is_a_clean_500_and_the_connection_stays(slick):
    dataset = slick.http.post("/v1/datasets", content=jsonl(QUESTIONS[:6]),
                              headers={"Content-Type": "application/x-ndjson"}).json()
    probe = slick.http.post("/v1/probes", json={"dataset_id": dataset["id"], "n_prompts": 1,
                                                "k_shot": 1, "n_samples": 1}).json()
    deadline = time.monotonic() + 60
    while slick.http.get(f"/v1/probes/{probe['id']}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (slick.data_dir / "probes" / probe["id"] / "result.parquet").write_bytes(b"PAR1 broken")
    for route in ("rows", "report.json", "curated"):
        first, second = two_requests(slick.port, f"/v1/probes/{probe['id']}/{route}",
                                     "/healthz")
        assert first is not None and first[0] == 500, (route, first)
        error = json.loads(first[2])["error"]
        assert error["type"] == "internal_error" and error["code"] == 500
        assert str(slick.data_dir) not in error["message"] and "/" not in error["message"]
        assert second is not None and second[0] == 200, (route, "connection dropped")


def test_an_unexpected_exception_keeps_the_connection():
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(UnhandledErrors)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("/secret/server/path exploded")

    @app.get("/ok")
    def ok() -> dict:
        return {"ok": True}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first, second = two_requests(port, "/boom", "/ok")
        assert first is not None and first[0] == 500
        body = json.loads(first[2])
        assert body["error"]["type"] == "internal_error"
        assert "secret" not in body["error"]["message"]
        assert second is not None and (second[0], json.loads(second[2])) == (200, {"ok": True})
    finally:
        server.should_exit = True
        thread.join(30)
