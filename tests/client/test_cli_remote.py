"""`slick remote ...`: the command line over the client, against the scripted server and, at the
end, the real app."""

from __future__ import annotations

import functools
import json
import socket

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import slick_curator.cli.remote as remote_module
from click.testing import CliRunner
from client_support import (
    ChunkRecordingTransport,
    Server,
    dataset_json,
    error_json,
    event_stream,
    probe_json,
    sse,
)
from http_support import TestClientTransport
from slick_client import Client
from slick_curator.cli import cli

URL = "http://slick.test"


def parquet() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"question": ["q"], "slick_category": ["Unknown"]}), sink)
    return sink.getvalue().to_pybytes()


@pytest.fixture
def slick(server: Server, monkeypatch: pytest.MonkeyPatch):
    """Run `slick ARGS...` with the remote commands talking to the scripted server."""
    monkeypatch.setattr(remote_module, "Client",
                        functools.partial(Client, transport=ChunkRecordingTransport(server)))

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(cli, ["remote", *args], env=env)

    return invoke


@pytest.fixture
def happy(server: Server) -> Server:
    server.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json()))
    server.route("POST", "/v1/probes", httpx.Response(202, json=probe_json("queued")))
    server.route("GET", "/v1/probes/p1/events", event_stream(sse(
        ("progress", probe_json(done=5)),
        ("end", probe_json("succeeded", done=10)))))
    server.route("GET", "/v1/probes/p1/result", httpx.Response(200, content=parquet()))
    return server


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n')
    return path


def test_probe_uploads_creates_waits_and_downloads(slick, happy: Server, data, tmp_path):
    out = tmp_path / "annotated.parquet"
    result = slick("probe", str(data), "--server", URL, "-o", str(out), "--mode", "full",
                   "--n-prompts", "3", "--no-keep-prompts", "--api-key", "k")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 1
    upload, _create, events, download = happy.requests
    assert upload.url.path == "/v1/datasets" and upload.url.params["name"] == "train.jsonl"
    assert upload.headers["authorization"] == "Bearer k"
    assert json.loads(happy.bodies[1]) == {"dataset_id": "ds1", "mode": "full", "n_prompts": 3,
                                           "keep_prompts": False}
    assert events.url.path == "/v1/probes/p1/events"
    assert download.url.path == "/v1/probes/p1/result"
    assert "uploaded train.jsonl as dataset ds1: 3/3 rows usable" in result.stderr
    assert "10/10 rows" in result.stderr  # the progress bar
    assert "probe p1 succeeded: 10/10 rows (HighlyKnown: 10)" in result.stderr


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_probe_offers_every_mode_the_server_has(slick, happy: Server, data, mode):
    result = slick("probe", str(data), "--server", URL, "--no-wait", "--mode", mode,
                   "--match", "squad")
    assert result.exit_code == 0, result.output
    assert json.loads(happy.bodies[1]) == {"dataset_id": "ds1", "mode": mode, "match": "squad"}


def test_probe_no_wait_prints_the_id(slick, happy: Server, data):
    result = slick("probe", str(data), "--server", URL, "--no-wait")
    assert result.exit_code == 0
    assert result.stdout == "p1\n"
    assert [r.url.path for r in happy.requests] == ["/v1/datasets", "/v1/probes"]


def test_probe_needs_output_unless_no_wait(slick, server: Server, data):
    result = slick("probe", str(data), "--server", URL)
    assert result.exit_code == 2 and "-o/--output is required" in result.stderr
    assert server.requests == []


def test_bad_parameter_fails_before_uploading(slick, server: Server, data, tmp_path):
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"),
                   "--n-prompts", "0")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid parameter n_prompts:")
    assert server.requests == []


def test_bad_rows_are_listed_and_exit_2(slick, server: Server, data, tmp_path):
    bad = [{"row": i, "field": "answer", "reason": "missing"} for i in range(12)]
    server.route("POST", "/v1/datasets", httpx.Response(400, json=error_json(
        400, "invalid_dataset", "12 bad row(s)", param="file", errors=bad)))
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"),
                   "--on-error", "fail")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: invalid_dataset: 12 bad row(s) (param: file) [HTTP 400]"
    assert lines[1] == "  row 0: answer: missing"
    assert lines[-1] == "  … and 2 more bad rows"
    assert happy_params(server.requests[0]) == {"name": "train.jsonl", "on_error": "fail"}


def happy_params(request: httpx.Request) -> dict[str, str]:
    return dict(request.url.params)


def test_skipped_rows_are_reported(slick, happy: Server, data, tmp_path):
    happy.route("POST", "/v1/datasets", httpx.Response(201, json=dataset_json(
        rows=4, valid_rows=3, errors=[{"row": 2, "field": "question", "reason": "empty"}])))
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"))
    assert result.exit_code == 0
    assert "3/4 rows usable, 1 bad rows skipped" in result.stderr
    assert "skipped row 2: question: empty" in result.stderr


def test_server_error_exits_1(slick, happy: Server, data, tmp_path):
    happy.route("POST", "/v1/probes", httpx.Response(500, json=error_json(
        500, "internal_error", "internal server error; see the server log")))
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: internal_error: internal server error; see the server log [HTTP 500]")


def test_failed_job_exits_1(slick, happy: Server, data, tmp_path):
    happy.route("GET", "/v1/probes/p1/events", event_stream(sse(
        ("end", probe_json("failed", error="engine crashed")))))
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"),
                   "--no-progress")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "error: probe p1 failed: engine crashed"
    assert not (tmp_path / "o.parquet").exists()


def test_ctrl_c_leaves_the_job_running(slick, happy: Server, data, tmp_path):
    happy.route("GET", "/v1/probes/p1/events", event_stream(
        sse(("progress", probe_json(done=5))), KeyboardInterrupt()))
    result = slick("probe", str(data), "--server", URL, "-o", str(tmp_path / "o.parquet"))
    assert result.exit_code == 130
    assert "interrupted: probe p1 keeps running on the server" in result.stderr
    assert f"slick remote status p1 --server {URL} --follow" in result.stderr
    assert happy.calls("POST", "/v1/probes/p1/cancel") == []


def test_status(slick, server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(200, json=probe_json(done=4)))
    result = slick("status", "p1", "--server", URL)
    assert result.exit_code == 0
    assert result.stdout == "p1 running 4/10 rows, 2.5 rows/s, ETA 2 s\n"
    as_json = slick("status", "p1", "--server", URL, "--json")
    assert json.loads(as_json.stdout)["progress"]["done"] == 4


def test_status_follow(slick, happy: Server):
    result = slick("status", "p1", "--server", URL, "--follow")
    assert result.exit_code == 0
    assert "10/10 rows" in result.stderr
    assert result.stdout.startswith("p1 succeeded 10/10 rows")


def test_status_of_failed_job_exits_1(slick, server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(200, json=probe_json(
        "failed", error="out of memory")))
    result = slick("status", "p1", "--server", URL)
    assert result.exit_code == 1 and "failed" in result.stdout and "out of memory" in result.stdout


def test_status_of_unknown_job_exits_2(slick, server: Server):
    server.route("GET", "/v1/probes/nope", httpx.Response(404, json=error_json(
        404, "not_found", "no probe 'nope'", param="probe_id")))
    result = slick("status", "nope", "--server", URL)
    assert result.exit_code == 2
    assert result.stderr == ("error: not_found: no probe 'nope' (param: probe_id) "
                             "[HTTP 404]\n")


def test_result_and_cancel(slick, server: Server, tmp_path):
    server.route("GET", "/v1/probes/p1/result", httpx.Response(200, content=parquet()))
    server.route("POST", "/v1/probes/p1/cancel", httpx.Response(202, json=probe_json()))
    out = tmp_path / "r.parquet"
    result = slick("result", "p1", "--server", URL, "-o", str(out))
    assert result.exit_code == 0 and pq.read_table(out).num_rows == 1
    cancelled = slick("cancel", "p1", "--server", URL)
    assert cancelled.exit_code == 0 and cancelled.stdout == "p1 running\n"
    assert len(server.calls("POST", "/v1/probes/p1/cancel")) == 1


def test_server_and_key_from_environment(slick, server: Server):
    server.route("GET", "/v1/probes/p1", httpx.Response(200, json=probe_json()))
    result = slick("status", "p1", env={"SLICK_BASE_URL": URL, "SLICK_API_KEY": "envkey"})
    assert result.exit_code == 0
    assert server.requests[0].headers["authorization"] == "Bearer envkey"
    assert str(server.requests[0].url) == f"{URL}/v1/probes/p1"


def test_unreachable_server_exits_1():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(cli, ["remote", "status", "p1", "--server",
                                      f"http://127.0.0.1:{port}", "--timeout", "5"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: TransportError: ConnectError on GET")


# -- against the real app ----------------------------------------------------------------------

def test_remote_probe_against_the_real_app(live, monkeypatch, tmp_path):
    from live_support import N_ROWS, rows, write_jsonl

    monkeypatch.setattr(remote_module, "Client",
                        functools.partial(Client, transport=TestClientTransport(live.http)))
    data = write_jsonl(tmp_path / "cli.jsonl", rows())
    out = tmp_path / "annotated.parquet"
    runner = CliRunner()
    result = runner.invoke(cli, ["remote", "probe", str(data), "--server", "http://testserver",
                                 "-o", str(out), "--n-prompts", "2", "--k-shot", "1",
                                 "--n-samples", "2"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == N_ROWS and "slick_category" in table.column_names
    probe_id = result.stderr.split("probe ")[-1].split()[0]
    status = runner.invoke(cli, ["remote", "status", probe_id, "--server", "http://testserver"])
    assert status.exit_code == 0 and status.stdout.startswith(f"{probe_id} succeeded")
    again = runner.invoke(cli, ["remote", "result", probe_id, "--server", "http://testserver",
                                "-o", str(tmp_path / "again.parquet")])
    assert again.exit_code == 0 and pq.read_table(tmp_path / "again.parquet").equals(table)
    cancel = runner.invoke(cli, ["remote", "cancel", probe_id, "--server", "http://testserver"])
    assert cancel.exit_code == 1 and "error: conflict:" in cancel.stderr
