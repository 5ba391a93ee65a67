"""Fixtures for the client tests: the scripted server, instant sleeps, sync/async runner."""

from __future__ import annotations

import pytest
from client_support import Runner, Server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than ~30 s (still runs in CI)")


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every client sleep (retry backoff, poll interval) recorded and skipped."""
    from slick_client import _retry

    seen: list[float] = []

    def fake_sleep(seconds: float) -> None:
        seen.append(seconds)

    async def fake_asleep(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr(_retry, "sleep", fake_sleep)
    monkeypatch.setattr(_retry, "asleep", fake_asleep)
    return seen


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest, server: Server) -> Runner:
    return Runner(server, request.param)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the real app, for the contract tests (started once per session, only if used) -----------

@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory):
    """The service with the fake engine; no API keys; jobs finish in well under a second."""
    from live_support import live_app

    with live_app(tmp_path_factory.mktemp("live")) as app:
        yield app


@pytest.fixture(scope="session")
def keyed_live(tmp_path_factory: pytest.TempPathFactory):
    """The service with API keys, a 50 kB upload limit and a slow engine (for cancels,
    conflicts and timeouts), separate so its slow jobs never hold up the other app's queue."""
    from live_support import engine_script, live_app

    with live_app(tmp_path_factory.mktemp("keyed"), api_keys=["key-1", "key-2"],
                  max_upload_bytes=50_000, engine_options=engine_script(delay_s=0.05)) as app:
        yield app


@pytest.fixture(params=["sync", "async"])
def lrun(request: pytest.FixtureRequest, live):
    from live_support import LiveRunner

    return LiveRunner(live, request.param)


@pytest.fixture(params=["sync", "async"])
def krun(request: pytest.FixtureRequest, keyed_live):
    from live_support import LiveRunner

    return LiveRunner(keyed_live, request.param)
