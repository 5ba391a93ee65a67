"""One way to load an engine, from a spec: the service's worker, `slick probe` and each Ray
actor all call `load_engine`, so an engine runs the same wherever it is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slick_curator.engines.base import Engine
from slick_curator.engines.registry import engine_class
from slick_curator.weights import DEFAULT_MODEL, resolve_model

__all__ = ["EngineSpec", "load_engine"]


@dataclass(frozen=True)
class EngineSpec:
    """Which engine to load, on what, with which options.

    `model` is an alias, a local folder or a hub id for engines with local weights, and the
    served name for the others (`Engine.local_weights`); None is the embedded default.
    `cache_dir` is where aliases are converted (None: `weights.default_cache_dir`). `seed` is
    the engine's base sampling seed (jobs set their own).
    """

    engine: str
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    device: str | None = None
    cache_dir: str | None = None
    seed: int = 0

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL


def load_engine(spec: EngineSpec) -> Engine:
    """Create the engine of `spec`; raises `weights.ModelNotFoundError` for unknown weights."""
    cls = engine_class(spec.engine)
    model = spec.model_name
    if cls.local_weights:
        model = resolve_model(spec.model, cache_dir=spec.cache_dir)
    options = {"seed": spec.seed, **spec.options}
    if spec.device:
        options.setdefault("device", spec.device)
    return cls(model=model, **options)
