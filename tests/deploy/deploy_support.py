"""Helpers for the deployment tests: read the Dockerfile and the manifests, find the tools,
start a server process. No Docker engine or cluster is needed (none runs on our machines)."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from slick_curator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
K8S_BASE = K8S / "base"
K8S_MONITORING = K8S / "monitoring"


# -- Dockerfile ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    name: str  # upper case, e.g. "ENV"
    args: str  # the rest of the (joined) line

    def exec_form(self) -> list[str]:
        """JSON-array arguments (ENTRYPOINT ["a", "b"]); fails on shell form."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.name} is not in exec (JSON array) form"
        return value


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, `\\` continuations joined."""
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        name, _, args = line.partition(" ")
        out.append(Instruction(name.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def one(instructions: list[Instruction], name: str) -> Instruction:
    found = [i for i in instructions if i.name == name]
    assert found, f"no {name} in the Dockerfile"
    return found[-1]  # the last one wins, as in Docker


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """Every ENV of the final stage as a dict (key=value form, shell-style quoting)."""
    env: dict[str, str] = {}
    for inst in instructions:
        if inst.name == "ENV":
            for item in shlex.split(inst.args):
                key, sep, value = item.partition("=")
                assert sep, f"ENV {inst.args!r}: use key=value form"
                env[key] = value
    return env


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` (relative, with /) out of the build context.

    Docker's rule: patterns apply in order, the last matching one wins, `!` re-includes, and
    a pattern matching a parent folder matches everything under it.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            hit = any(fnmatch.fnmatchcase(p, tail) for p in parts)
        else:
            hit = any(fnmatch.fnmatchcase(c, pattern) for c in candidates)
        if hit:
            excluded = not negate
    return excluded


def dockerignore_patterns(path: Path = ROOT / ".dockerignore") -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


# -- manifests ----------------------------------------------------------------------------------

def yaml_documents(path: Path) -> list[dict]:
    with path.open() as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def kustomization(folder: Path) -> dict:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def kustomization_files(folder: Path) -> list[Path]:
    """The manifest files a kustomization applies, following bases (../base) recursively."""
    files: list[Path] = []
    for entry in kustomization(folder)["resources"]:
        path = (folder / entry).resolve()
        assert path.exists(), f"{folder}/kustomization.yaml: {entry} does not exist"
        files += kustomization_files(path) if path.is_dir() else [path]
    return files


def manifests(folder: Path = K8S_MONITORING) -> list[dict]:
    """Every object `kubectl apply -k folder` applies (before kustomize's edits), in order."""
    return [doc for path in kustomization_files(folder) for doc in yaml_documents(path)]


def the(kind: str, folder: Path = K8S_MONITORING) -> dict:
    found = [doc for doc in manifests(folder) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


# -- tools and processes ------------------------------------------------------------------------

def tool(name: str) -> str:
    """A command-line tool installed by `setup.sh --dev` (beside the interpreter, or on PATH).

    Fails loudly: a missing tool means the dev setup is broken, not that the check is optional.
    """
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run ./setup.sh --dev")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, *, status: int = 200, timeout: float = 60.0,
              process: subprocess.Popen | None = None, log: Path | None = None) -> httpx.Response:
    """GET `url` until it answers `status`; fails early if `process` exits."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-4000:] if log else ""
            pytest.fail(f"server exited with {process.returncode}:\n{tail}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status:
                return response
            last = response.status_code
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.2)
    tail = log.read_text()[-4000:] if log else ""
    pytest.fail(f"{url} did not answer {status} within {timeout}s (last: {last!r}):\n{tail}")


def settings_from_env(env: dict[str, str], monkeypatch) -> Settings:
    """Settings exactly as the service reads them from these environment variables."""
    for key in [k for k in os.environ if k.startswith("SLICK_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def unknown_settings(env: dict[str, str]) -> list[str]:
    """SLICK_ variables that name no setting (pydantic-settings would silently ignore them)."""
    fields = set(Settings.model_fields)
    return [k for k in env if k.startswith("SLICK_")
            and k.removeprefix("SLICK_").lower() not in fields]


def app_routes() -> set[str]:
    """Every path the real app serves (built, not started)."""
    from slick_curator.app import create_app

    app = create_app(Settings(_env_file=None, data_dir=Path("/nonexistent")),
                     configure_logs=False)
    return {route.path for route in app.routes}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without SLICK_ settings, offline, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLICK_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env
