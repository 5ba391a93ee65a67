"""Real engines on the real SmolLM2-135M: transformers once per session, vLLM per module."""

from __future__ import annotations

import pytest
from slick_curator.probing.reading import read_dataset


@pytest.fixture(scope="session")
def hf_engine(model_path):
    from slick_curator.engines import create_engine

    engine = create_engine("transformers", model=model_path, seed=0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def vllm_engine(model_path):
    # Module scope: vLLM's engine processes hold GBs of KV cache and poll the CPU; they must
    # not outlive the module that uses them and slow down (or starve) the rest of the suite.
    from slick_curator.engines import create_engine

    engine = create_engine("vllm", model=model_path, seed=0)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def p36_20(eq_dir):
    return read_dataset(eq_dir / "test" / "P36.test.json", limit=20)


@pytest.fixture(scope="session")
def p36_dev(eq_dir):
    return read_dataset(eq_dir / "dev" / "P36.dev.json")
