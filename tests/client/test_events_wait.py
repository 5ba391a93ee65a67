"""Server-sent events, `wait()` (stream first, polling when the stream fails), the progress
bar, timeouts, failed jobs and Ctrl-C (which must never cancel the job)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
from client_support import (
    Runner,
    ScriptedStream,
    Server,
    collect,
    error_json,
    event_stream,
    probe_json,
    sse,
)
from slick_client import (
    AuthenticationError,
    JobFailedError,
    NotFoundError,
    ProbePublic,
    TransportError,
    WaitTimeoutError,
)
from slick_client._sse import HEARTBEAT, ServerSentEvent, SSEDecoder

EVENTS = "/v1/probes/p1/events"
GET = "/v1/probes/p1"


def feed_all(text: str) -> list:
    decoder = SSEDecoder()
    return [item for line in text.split("\n") if (item := decoder.feed(line)) is not None]


# -- the decoder -------------------------------------------------------------------------------

def test_decoder_events_comments_and_multiline_data():
    items = feed_all(
        ": hello\n"
        "event: progress\ndata: {\"a\":\ndata:  1}\nid: 7\nretry: 1500\n\n"
        "data: plain\n\n"
        "event: end\r\ndata: x\r\n\r\n"
        "event: progress\ndata: incomplete"  # no blank line: never dispatched
    )
    assert items == [
        HEARTBEAT,
        ServerSentEvent(event="progress", data='{"a":\n 1}', id="7", retry=1500),
        ServerSentEvent(event="message", data="plain", id="7", retry=1500),
        ServerSentEvent(event="end", data="x", id="7", retry=1500),
    ]


def test_decoder_ignores_unknown_fields_and_blank_runs():
    assert feed_all("foo: bar\n\n\n\ndata\n\n") == [ServerSentEvent(data="")]


# -- events() ----------------------------------------------------------------------------------

def test_events_yields_each_state_and_stops_at_end(run: Runner, server: Server):
    body = sse(("progress", probe_json(done=3)), ("progress", probe_json(done=7)),
               ("end", probe_json("succeeded", done=10)), heartbeat=True)
    after_end = sse(("progress", probe_json(done=99)))
    server.route("GET", EVENTS, event_stream(body, after_end))
    jobs = run(lambda c: collect(c.probes.events("p1")))
    assert [(j.status, j.progress.done) for j in jobs] == [
        ("running", 3), ("running", 7), ("succeeded", 10)]
    assert all(isinstance(j, ProbePublic) for j in jobs)
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_events_multiline_json_data_and_split_chunks(run: Runner, server: Server):
    pretty = json.dumps(probe_json("succeeded", done=10), indent=2)
    text = "event: end\n" + "".join(f"data: {line}\n" for line in pretty.splitlines()) + "\n"
    raw = text.encode()
    parts = [raw[i:i + 7] for i in range(0, len(raw), 7)]  # lines cut across chunks
    server.route("GET", EVENTS, event_stream(*parts))
    (job,) = run(lambda c: collect(c.probes.events("p1")))
    assert job.status == "succeeded" and job.progress.done == 10


def test_events_ignores_other_event_kinds(run: Runner, server: Server):
    body = b"event: log\ndata: starting\n\n" + sse(("end", probe_json("succeeded")))
    server.route("GET", EVENTS, event_stream(body))
    assert [j.status for j in run(lambda c: collect(c.probes.events("p1")))] == ["succeeded"]


def test_events_broken_stream_is_transport_error(run: Runner, server: Server):
    streams: list[ScriptedStream] = []
    server.route("GET", EVENTS, event_stream(
        sse(("progress", probe_json(done=1))), httpx.ReadError("connection reset"),
        streams=streams))
    with pytest.raises(TransportError) as info:
        run(lambda c: collect(c.probes.events("p1")))
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert streams[0].closed


def test_events_malformed_data_is_transport_error(run: Runner, server: Server):
    server.route("GET", EVENTS, event_stream(b"event: progress\ndata: {not json\n\n"))
    with pytest.raises(TransportError, match="malformed 'progress' event"):
        run(lambda c: collect(c.probes.events("p1")))


def test_events_error_status_is_typed(run: Runner, server: Server):
    server.route("GET", EVENTS, httpx.Response(404, json=error_json(404, "not_found", "no p1")))
    with pytest.raises(NotFoundError):
        run(lambda c: collect(c.probes.events("p1")))


# -- wait() ------------------------------------------------------------------------------------

def test_wait_follows_the_stream_without_polling(run: Runner, server: Server, sleeps):
    server.route("GET", EVENTS, event_stream(
        sse(("progress", probe_json(done=5)), ("end", probe_json("succeeded", done=10)),
            heartbeat=True)))
    job = run(lambda c: c.probes.wait("p1"))
    assert job.status == "succeeded" and job.counts == {"HighlyKnown": 10}
    assert server.calls("GET", GET) == [] and sleeps == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda r: httpx.Response(500, json=error_json(500, "internal_error", "x")),
                     id="500"),
        pytest.param(lambda r: httpx.Response(404, json=error_json(404, "not_found", "route")),
                     id="no-events-route"),
        pytest.param(lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
                     id="connect-error"),
        pytest.param(event_stream(sse(("progress", probe_json(done=2)))), id="ends-early"),
        pytest.param(event_stream(sse(("progress", probe_json(done=2))),
                                  httpx.RemoteProtocolError("peer closed")), id="breaks"),
        pytest.param(event_stream(b"event: progress\ndata: garbage\n\n"), id="garbage"),
    ],
)
def test_wait_falls_back_to_polling(run: Runner, server: Server, sleeps, broken):
    server.route("GET", EVENTS, broken)
    server.route("GET", GET, httpx.Response(200, json=probe_json(done=4)),
                 httpx.Response(200, json=probe_json(done=8)),
                 httpx.Response(200, json=probe_json("succeeded", done=10)))
    job = run(lambda c: c.probes.wait("p1", poll_interval=2.5), max_retries=0)
    assert job.status == "succeeded"
    assert len(server.calls("GET", GET)) == 3
    assert sleeps == [2.5, 2.5]  # no sleep before the first poll


def test_wait_on_a_finished_job_returns_at_once(run: Runner, server: Server):
    server.route("GET", EVENTS, event_stream(sse(("end", probe_json("succeeded", done=10)))))
    assert run(lambda c: c.probes.wait("p1")).status == "succeeded"


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_wait_raises_job_failed(run: Runner, server: Server, status):
    final = probe_json(status, done=3, error="engine crashed" if status == "failed" else None)
    server.route("GET", EVENTS, event_stream(sse(("end", final))))
    with pytest.raises(JobFailedError) as info:
        run(lambda c: c.probes.wait("p1"))
    assert info.value.status == status
    assert info.value.job.progress.done == 3
    assert f"probe p1 {status}" in str(info.value)
    if status == "failed":
        assert "engine crashed" in str(info.value)


def test_wait_raises_job_failed_when_polling_too(run: Runner, server: Server):
    server.route("GET", EVENTS, httpx.Response(502))
    server.route("GET", GET, httpx.Response(200, json=probe_json("failed", error="oom")))
    with pytest.raises(JobFailedError, match="oom"):
        run(lambda c: c.probes.wait("p1"), max_retries=0)


def test_wait_bad_key_is_raised_not_polled(run: Runner, server: Server):
    server.route("GET", EVENTS, httpx.Response(401, json=error_json(401, "unauthorized", "key")))
    with pytest.raises(AuthenticationError):
        run(lambda c: c.probes.wait("p1"))
    assert server.calls("GET", GET) == []


def test_wait_unknown_job_is_not_found(run: Runner, server: Server):
    missing = httpx.Response(404, json=error_json(404, "not_found", "no probe p1"))
    server.route("GET", EVENTS, missing)
    server.route("GET", GET, missing)
    with pytest.raises(NotFoundError, match="no probe p1"):
        run(lambda c: c.probes.wait("p1"))


def test_wait_timeout_while_polling(run: Runner, server: Server):
    def slow_running(request: httpx.Request) -> httpx.Response:
        time.sleep(0.02)
        return httpx.Response(200, json=probe_json(done=1))

    server.route("GET", EVENTS, httpx.Response(503))
    server.route("GET", GET, slow_running)
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        run(lambda c: c.probes.wait("p1", timeout=0.2), max_retries=0)
    assert time.monotonic() - started < 2
    assert info.value.job is not None and info.value.job.status == "running"
    assert isinstance(info.value, TimeoutError)
    assert "goes on on the server" in str(info.value)
    assert server.calls("POST") == []


def test_wait_timeout_while_streaming_heartbeats(run: Runner, server: Server):
    beats = [b": ping\n\n"] * 200
    server.route("GET", EVENTS, event_stream(sse(("progress", probe_json(done=1))), *beats,
                                             delay_s=0.01))
    with pytest.raises(WaitTimeoutError):
        run(lambda c: c.probes.wait("p1", timeout=0.15))
    assert server.calls("GET", GET) == []


# -- progress bar ------------------------------------------------------------------------------

def test_progress_bar_shows_rows_rate_eta_and_status(run: Runner, server: Server, capsys):
    server.route("GET", EVENTS, event_stream(sse(
        ("progress", probe_json("queued", done=0, total=0)),
        ("progress", probe_json(done=4, total=10, progress={"done": 4, "total": 10,
                                                            "rate": 2.0, "eta_s": 75})),
        ("end", probe_json("succeeded", done=10, total=10)))))
    run(lambda c: c.probes.wait("p1", progress=True))
    err = capsys.readouterr().err
    assert "probe p1" in err
    assert "queued" in err
    assert "4/10 rows" in err and "2 rows/s" in err and "ETA 01:15" in err
    assert "10/10 rows" in err and "succeeded" in err and "HighlyKnown=10" in err
    assert err.endswith("\n")  # the bar was closed


def test_no_bar_without_progress(run: Runner, server: Server, capsys):
    server.route("GET", EVENTS, event_stream(sse(("end", probe_json("succeeded", done=10)))))
    run(lambda c: c.probes.wait("p1"))
    assert capsys.readouterr().err == ""


# -- Ctrl-C ------------------------------------------------------------------------------------

def test_ctrl_c_while_streaming_leaves_the_job_running(run: Runner, server: Server, capsys):
    streams: list[ScriptedStream] = []
    server.route("GET", EVENTS, event_stream(sse(("progress", probe_json(done=3))),
                                             KeyboardInterrupt(), streams=streams))
    server.route("POST", "/v1/probes/p1/cancel", httpx.Response(202, json=probe_json()))
    with pytest.raises(KeyboardInterrupt):
        run(lambda c: c.probes.wait("p1", progress=True))
    assert server.calls("POST") == []  # never cancelled
    assert streams[0].closed
    err = capsys.readouterr().err
    assert "3/10 rows" in err
    assert "interrupted: probe p1 keeps running on the server" in err


def test_ctrl_c_while_polling_leaves_the_job_running(run: Runner, server: Server, capsys):
    server.route("GET", EVENTS, httpx.Response(503))
    server.route("GET", GET, httpx.Response(200, json=probe_json(done=2)), KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(lambda c: c.probes.wait("p1", progress=True), max_retries=0)
    assert server.calls("POST") == []
    assert "keeps running on the server" in capsys.readouterr().err


def test_cancelling_the_async_wait_closes_the_stream_and_sends_nothing(server: Server):
    import asyncio

    streams: list[ScriptedStream] = []
    beats = [b": ping\n\n"] * 1000
    server.route("GET", EVENTS, event_stream(sse(("progress", probe_json(done=1))), *beats,
                                             delay_s=0.01, streams=streams))

    async def main() -> None:
        async with server.async_client() as c:
            task = asyncio.create_task(c.probes.wait("p1", progress=True))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert server.calls("POST") == []
    assert streams[0].closed


def test_the_progress_bar_leaves_no_thread_behind():
    # tqdm's monitor thread, alive at exit beside pyarrow, aborted ~1 % of client scripts
    # ("terminate called without an active exception"); the bar is moved by hand and needs none.
    script = (
        "import threading, io\n"
        "from slick_client._progress import ProgressBar\n"
        "from slick_client.schemas import ProbePublic\n"
        "job = ProbePublic.model_validate({'id': 'p1', 'dataset_id': 'd', 'status': 'running',"
        " 'model': 'm', 'engine': 'fake', 'params': {}, 'created_at': '2026-01-01T00:00:00Z',"
        " 'progress': {'done': 1, 'total': 2, 'rate': 1.0, 'eta_s': 1.0}})\n"
        "bar = ProgressBar(file=io.StringIO())\n"
        "bar.update(job)\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
        "bar.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "['MainThread']"
