"""Generation engines behind one seam (see base.py). Heavy imports live in the engine modules."""

from slick_curator.engines.base import Engine, GenerationRequest, GenerationResult, SamplingParams
from slick_curator.engines.registry import available_engines, create_engine

__all__ = [
    "Engine",
    "GenerationRequest",
    "GenerationResult",
    "SamplingParams",
    "available_engines",
    "create_engine",
]
