"""The client installs alone: a fresh virtualenv (no system site-packages) gets only ./client,
imports without torch, has none of the service's heavy dependencies, and works end to end
against a scripted server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "duckdb", "fastapi", "vllm", "transformers", "pandas", "polars", "click")

SMOKE = textwrap.dedent(
    """
    import io, json, sys
    import httpx
    import pyarrow as pa, pyarrow.parquet as pq
    import slick_client
    from slick_client import Client

    now = "2025-01-01T00:00:00Z"
    ds = {"id": "ds1", "name": None, "format": "jsonl", "kind": "qa", "rows": 1,
          "valid_rows": 1, "sha256": "0" * 64, "size_bytes": 1, "columns": ["question"],
          "created_at": now}
    def job(status, done):
        return {"id": "p1", "dataset_id": "ds1", "status": status, "model": "m",
                "engine": "transformers", "params": {}, "created_at": now,
                "progress": {"done": done, "total": 2, "rate": 1.0, "eta_s": 1.0}}
    sink = io.BytesIO()
    pq.write_table(pa.table({"slick_category": ["Unknown", "HighlyKnown"]}), sink)

    def handler(request):
        request.read()
        path = request.url.path
        if path == "/v1/datasets":
            return httpx.Response(201, json=ds)
        if path == "/v1/probes":
            return httpx.Response(202, json=job("queued", 0))
        if path == "/v1/probes/p1/events":
            body = "".join(f"event: {e}\\ndata: {json.dumps(job(s, d))}\\n\\n"
                           for e, s, d in [("progress", "running", 1),
                                           ("end", "succeeded", 2)])
            return httpx.Response(200, content=body.encode())
        if path == "/v1/probes/p1/result":
            return httpx.Response(200, content=sink.getvalue())
        return httpx.Response(404, json={"error": {"type": "not_found", "message": path,
                                                   "code": 404}})

    with Client("http://x", transport=httpx.MockTransport(handler)) as c:
        d = c.datasets.upload([{"question": "q", "answer": "a"}])
        j = c.probes.wait(c.probes.create(d.id, mode="full").id, progress=True)
        table = c.probes.result(j.id)
        try:
            c.datasets.get("nope")
        except slick_client.NotFoundError:
            pass
    assert table.num_rows == 2 and j.status == "succeeded"
    print("SMOKE OK", slick_client.__file__)
    """
)


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_client_installs_alone_into_a_fresh_venv(tmp_path: Path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    # A copy, so the build leaves nothing (build/, *.egg-info) in the working tree.
    source = tmp_path / "client"
    shutil.copytree(ROOT / "client", source,
                    ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env, tmp_path)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", str(source)],
         env, tmp_path)

    _run([python, "-c", "import slick_client, sys; assert 'torch' not in sys.modules"],
         env, tmp_path)
    for name in HEAVY:
        result = subprocess.run([python, "-c", f"import {name}"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode != 0, f"{name} is importable in the client-only venv"
        assert "ModuleNotFoundError" in result.stderr

    smoke = _run([python, "-c", SMOKE], env, tmp_path)
    assert "SMOKE OK" in smoke.stdout
    assert str(venv) in smoke.stdout  # the installed copy, not the working tree
    assert "probe p1" in smoke.stderr and "2/2 rows" in smoke.stderr  # the progress bar
