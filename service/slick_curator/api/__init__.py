"""The HTTP layer: one router per resource. It turns requests into service calls, nothing more."""

from slick_curator.api import datasets, health, probes

__all__ = ["datasets", "health", "probes"]
