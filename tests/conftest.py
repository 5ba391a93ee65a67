"""Fixtures shared by every test layer: the real data and the real default model."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTITY_QUESTIONS = ROOT.parent / "shared" / "data" / "entityquestions"


@pytest.fixture(scope="session")
def eq_dir() -> Path:
    """EntityQuestions (train/dev/test per relation), beside the project as ../shared."""
    if not ENTITY_QUESTIONS.is_dir():
        pytest.fail(f"real test data missing: {ENTITY_QUESTIONS} (CI puts ../shared beside the repo)")
    return ENTITY_QUESTIONS


@pytest.fixture(scope="session")
def model_path() -> str:
    """The embedded SmolLM2-135M-Instruct as a safetensors folder (converted once, cached)."""
    from slick_curator.weights import resolve_model

    return resolve_model("smollm2-135m")
