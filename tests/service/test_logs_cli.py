"""Structured logs with the job id, `slick serve` flags over SLICK_ settings."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner
from slick_curator.cli import cli
from slick_curator.logs import configure_logging, job_context
from slick_curator.settings import Settings


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_carry_the_job_id(capsys, restore_logging):
    configure_logging("INFO", json_logs=True)
    log = logging.getLogger("slick_curator.test")
    with job_context("pr_0123456789abcdef"):
        log.info("shard %d done", 3)
    log.warning("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "shard 3 done" and lines[0]["level"] == "INFO"
    assert lines[0]["job_id"] == "pr_0123456789abcdef"
    assert "job_id" not in lines[1]


def test_text_logs_carry_the_job_id(capsys, restore_logging):
    configure_logging("INFO", json_logs=False)
    with job_context("pr_abc"):
        logging.getLogger("x").info("hello")
    assert "[job pr_abc] hello" in capsys.readouterr().err


def test_list_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("SLICK_API_KEYS", "one, two")
    monkeypatch.setenv("SLICK_ALLOWED_MODELS", "/models/a,/models/b")
    monkeypatch.setenv("SLICK_ENGINE_OPTIONS", '{"batch_tokens": 4096}')
    settings = Settings()
    assert settings.api_keys == ["one", "two"]
    assert settings.allowed_models == ["/models/a", "/models/b"]
    assert settings.engine_options == {"batch_tokens": 4096}
    assert settings.allowed_engines == []  # the default engine only
    assert settings.probe_engines() == [settings.engine]
    monkeypatch.setenv("SLICK_ALLOWED_ENGINES", "openai, vllm")
    assert Settings().probe_engines() == ["openai", "transformers", "vllm"]


def test_serve_flags_override_the_environment(monkeypatch, tmp_path, restore_logging):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("SLICK_PORT", "9999")
    monkeypatch.setenv("SLICK_SHARD_SIZE", "7")
    result = CliRunner().invoke(cli, ["serve", "--port", "8123", "--data-dir", str(tmp_path),
                                      "--engine", "fake", "--api-key", "k1", "--api-key", "k2",
                                      "--engine-options", '{"delay_s": 0.5}'])
    assert result.exit_code == 0, result.output
    settings = seen["app"].state.settings
    assert (seen["port"], settings.port, settings.shard_size) == (8123, 8123, 7)
    assert (settings.engine, settings.api_keys) == ("fake", ["k1", "k2"])
    assert settings.engine_options == {"delay_s": 0.5} and settings.data_dir == tmp_path


def test_serve_rejects_bad_flags(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--engine-options", "{nope"])
    assert result.exit_code == 2 and "not JSON" in result.output
    result = CliRunner().invoke(cli, ["serve", "--shard-size", "0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "shard_size" in result.output
