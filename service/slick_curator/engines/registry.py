"""Engines by name. Entries are "module:Class" strings, so importing the package never
imports torch or vllm; the module loads only when that engine is created."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from slick_curator.engines.base import Engine

_ENGINES: dict[str, str] = {
    "transformers": "slick_curator.engines.transformers_engine:TransformersEngine",
    "vllm": "slick_curator.engines.vllm_engine:VLLMEngine",
    "fake": "slick_curator.engines.fake:FakeEngine",
    "openai": "slick_curator.engines.openai_engine:OpenAIEngine",
}


def supports_fast_mode(name: str) -> bool:
    """Whether engine `name` can teacher-force answers (`mode="fast"`): `Engine.can_score`.

    Importing an engine's module is cheap (torch, transformers and vllm load when an engine is
    created), so the API process can ask."""
    return engine_class(name).can_score


def supports_exact_mode(name: str) -> bool:
    """Whether engine `name` can enumerate continuations (`mode="exact"`):
    `Engine.can_enumerate`."""
    return engine_class(name).can_enumerate


class UnknownEngineError(ValueError):
    """No engine is registered under that name."""


def available_engines() -> list[str]:
    return sorted(_ENGINES)


def engine_class(name: str) -> type[Engine]:
    """The class registered as `name`; a typo gets 'did you mean …'."""
    try:
        target = _ENGINES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _ENGINES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownEngineError(
            f"unknown engine {name!r}.{hint} Available: {', '.join(available_engines())}"
        ) from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_engine(name: str, **options: Any) -> Engine:
    """Load the engine `name` with engine-specific options (model, device, seed, …)."""
    return engine_class(name)(**options)
