"""A real Ray cluster for the Ray tests: `ray start --head` on loopback with 2 CPUs, started
once per module and stopped by its own process id."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# On Linux Ray replaces 127.0.0.1 by the machine's outward address unless told this is a
# one-machine cluster; with it, every Ray process binds and talks on loopback only.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _ray_clusters(enabled: bool) -> bool | None:
    """Set Ray's one-machine switch in this process; returns what it was (None: not loaded).

    Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is imported. When something
    imported it earlier in this test session (vLLM does), the environment variable comes too
    late and ray.init would dial the machine's outward address instead of 127.0.0.1."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is None:
        return None
    before = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = enabled
    return before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """The GCS address of a fresh 2-CPU head node on 127.0.0.1."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.fail("ray is not installed; run ./setup.sh --dev")
    saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    os.environ.update(LOOPBACK_ENV)  # the test process and the service's worker are drivers
    clusters_before = _ray_clusters(False)
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's unix sockets
    port = _free_port()
    log = temp / "head.log"
    with log.open("wb") as out:
        head = subprocess.Popen(
            [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
             "--port", str(port), "--ray-client-server-port", str(_free_port()),
             "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false",
             "--disable-usage-stats", "--temp-dir", str(temp)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in log.read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray head did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        import ray as ray_module

        if ray_module.is_initialized():
            ray_module.shutdown()
        if clusters_before is not None:
            _ray_clusters(clusters_before)
        head.send_signal(signal.SIGTERM)  # drains, then stops the processes it started
        try:
            head.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # our own session: the head and its children
            head.wait(10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp, ignore_errors=True)
