"""`probes.result`: a pyarrow Table in memory, or Parquet streamed to disk through a temp file
that is renamed into place only when complete."""

from __future__ import annotations

import io

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from client_support import Runner, ScriptedStream, Server, error_json
from slick_client import ConflictError, NotFoundError, TransportError

RESULT = "/v1/probes/p1/result"
TABLE = pa.table({"question": [f"q{i}" for i in range(5000)],
                  "slick_category": ["HighlyKnown", "Unknown"] * 2500})


def parquet_bytes() -> bytes:
    sink = io.BytesIO()
    pq.write_table(TABLE, sink)
    return sink.getvalue()


def parquet_response(*parts: bytes | BaseException):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/vnd.apache.parquet"},
                              stream=ScriptedStream(*parts))

    return handler


def chunks(data: bytes, n: int) -> list[bytes]:
    size = -(-len(data) // n)
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_result_as_table(run: Runner, server: Server):
    server.route("GET", RESULT, httpx.Response(200, content=parquet_bytes()))
    table = run(lambda c: c.probes.result("p1"))
    assert isinstance(table, pa.Table)
    assert table.equals(TABLE)
    assert server.requests[0].method == "GET"


def test_result_to_path_is_streamed_and_atomic(run: Runner, server: Server, tmp_path):
    data = parquet_bytes()
    seen_partial: list[int] = []

    class Watching(ScriptedStream):
        """Between chunks, look at what is on disk already."""

        def _look(self) -> None:
            parts = list(tmp_path.glob(".annotated.parquet.*.part"))
            seen_partial.append(parts[0].stat().st_size if parts else -1)
            assert not (tmp_path / "annotated.parquet").exists()

        def __iter__(self):
            for part in self.parts:
                self._look()
                yield part

        async def __aiter__(self):
            for part in self.parts:
                self._look()
                yield part

    server.route("GET", RESULT, lambda r: httpx.Response(200, stream=Watching(*chunks(data, 4))))
    out = run(lambda c: c.probes.result("p1", path=tmp_path / "annotated.parquet"))
    assert out == tmp_path / "annotated.parquet"
    assert out.read_bytes() == data
    assert pq.read_table(out).equals(TABLE)
    # the temp file grew chunk by chunk before the rename: nothing was held whole in memory
    assert seen_partial[0] == 0 and 0 < seen_partial[2] < len(data)
    assert [p.name for p in tmp_path.iterdir()] == ["annotated.parquet"]


def test_result_path_as_str_and_new_folder(run: Runner, server: Server, tmp_path):
    server.route("GET", RESULT, httpx.Response(200, content=parquet_bytes()))
    out = run(lambda c: c.probes.result("p1", path=str(tmp_path / "new" / "out.parquet")))
    assert pq.read_table(out).num_rows == 5000


def test_result_before_success_is_conflict_and_writes_nothing(run: Runner, server: Server,
                                                             tmp_path):
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    server.route("GET", RESULT, httpx.Response(409, json=error_json(
        409, "conflict", "probe p1 is running; its result is ready once it succeeded")))
    with pytest.raises(ConflictError, match="running"):
        run(lambda c: c.probes.result("p1", path=target))
    with pytest.raises(ConflictError):
        run(lambda c: c.probes.result("p1"))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_result_unknown_job(run: Runner, server: Server):
    server.route("GET", RESULT, httpx.Response(404, json=error_json(404, "not_found", "no p1")))
    with pytest.raises(NotFoundError):
        run(lambda c: c.probes.result("p1"))


def test_download_broken_midway_starts_over(run: Runner, server: Server, tmp_path, sleeps):
    data = parquet_bytes()
    first, *rest = chunks(data, 3)
    server.route("GET", RESULT, parquet_response(first, httpx.ReadError("reset")),
                 parquet_response(first, *rest))
    out = run(lambda c: c.probes.result("p1", path=tmp_path / "a.parquet"), max_retries=2)
    assert out.read_bytes() == data
    assert len(server.requests) == 2 and len(sleeps) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.parquet"]


def test_download_that_keeps_breaking_leaves_no_file(run: Runner, server: Server, tmp_path):
    server.route("GET", RESULT, parquet_response(b"PAR1", httpx.ReadError("reset")))
    with pytest.raises(TransportError):
        run(lambda c: c.probes.result("p1", path=tmp_path / "a.parquet"), max_retries=1)
    assert len(server.requests) == 2
    assert list(tmp_path.iterdir()) == []


def test_in_memory_result_retried_on_gateway_error(run: Runner, server: Server):
    server.route("GET", RESULT, httpx.Response(504), httpx.Response(200, content=parquet_bytes()))
    assert run(lambda c: c.probes.result("p1")).num_rows == 5000
    assert len(server.requests) == 2
