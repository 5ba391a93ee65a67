"""Executors: where a job's shards are probed when not by the worker's own engine.

`ray_executor.RayExecutor` spreads shards over a Ray cluster. This module only reads
settings, so importing it never imports ray.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RayOptions", "ray_options"]


@dataclass(frozen=True)
class RayOptions:
    """How to reach the Ray cluster and size its engine actors (from SLICK_RAY_* settings).

    `workers` 0 means one actor per `gpus_per_worker` GPUs of the cluster.
    `in_flight_per_worker` shards are queued on each actor so it never waits for the next.
    """

    address: str | None = None
    workers: int = 0
    gpus_per_worker: float = 1.0
    cpus_per_worker: float = 1.0
    in_flight_per_worker: int = 2


def ray_options(settings) -> RayOptions | None:
    """The Ray options of `settings`, or None when jobs run on the worker's own engine."""
    if settings.executor != "ray":
        return None
    return RayOptions(address=settings.ray_address, workers=settings.ray_workers,
                      gpus_per_worker=settings.ray_gpus_per_worker)
