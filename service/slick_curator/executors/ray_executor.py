"""Scale-out on Ray: a job's shards probed in parallel by engine actors on a Ray cluster.

The worker process keeps its role: it reads the dataset, skips checkpointed shards, writes
each shard's checkpoint and the final result (`jobs.execute.run_job`). Only the probing of a
shard moves (`executors.base.ShardExecutor`): `RayExecutor.probe_shards` hands shards to
actors, each of which holds one engine (loaded by `engines.factory.load_engine`, as the worker
loads its own) and runs `ProbeRun.probe_shard` on it, and yields the results as they finish.
Shard boundaries are the job's own, so checkpoints, resumes and results are the same as a
single-machine run's (every sample draws from its own stream, whichever actor runs it).

The Ray cluster's nodes need slick-curator and the engine installed (run them from the same
image), and SLICK_CACHE_DIR or the model path must be usable on them.
"""

from __future__ import annotations

import copy
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import ray

from slick_curator.engines.base import GenerationRequest, GenerationResult
from slick_curator.engines.factory import EngineSpec, load_engine
from slick_curator.executors import RayOptions
from slick_curator.executors.base import ProbedShard, ShardExecutor

__all__ = ["RayExecutor"]

log = logging.getLogger(__name__)

_WAIT_S = 1.0  # how often a waiting job looks at its cancel flag


class _EngineActor:
    """One engine in one Ray worker process."""

    def __init__(self, spec: EngineSpec) -> None:
        self.engine = load_engine(spec)
        self._runs: dict[str, Any] = {}

    def info(self) -> dict[str, str]:
        return {**self.engine.info(), "node": ray.util.get_node_ip_address(),
                "pid": str(os.getpid())}

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return self.engine.render_chat(messages)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self.engine.generate(requests)

    def probe(self, job: str, run_ref: list, rows: list, seed: int) -> tuple[Any, int]:
        """Probe one shard; returns its results table and the generations it took."""
        run = self._runs.get(job)
        if run is None:  # first shard of this job here (or the actor was restarted)
            run = ray.get(run_ref[0])  # wrapped in a list so Ray passes the ref, not the value
            self._runs = {job: run}
        self.engine.seed = seed
        generations = 0

        def count(n: int) -> None:
            nonlocal generations
            generations += n

        return run.probe_shard(self.engine, rows, count), generations

    def close(self) -> None:
        self.engine.close()


class RayExecutor(ShardExecutor):
    """Engines in Ray actors, used by the worker in place of one local engine.

    Args:
        spec: the engine each actor loads.
        options: cluster address and actor sizing.
    """

    def __init__(self, spec: EngineSpec, options: RayOptions) -> None:
        self.options = options
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=self.options.address, include_dashboard=False,
                     configure_logging=False, log_to_driver=True)
        workers = self.options.workers or self._workers_from_gpus()
        actor = ray.remote(_EngineActor).options(
            num_gpus=self.options.gpus_per_worker, num_cpus=self.options.cpus_per_worker,
            max_restarts=2, max_task_retries=2)
        self.actors = [actor.remote(spec) for _ in range(workers)]
        self.shards_done = [0] * workers
        try:
            # Constructors run first: this waits until every actor has loaded its engine.
            self.actor_infos = ray.get([a.info.remote() for a in self.actors])
        except Exception:
            self.close()
            raise
        log.info("Ray executor ready: %d engine actors on %s", workers,
                 sorted({i["node"] for i in self.actor_infos}))

    def _workers_from_gpus(self) -> int:
        gpus = ray.cluster_resources().get("GPU", 0)
        if self.options.gpus_per_worker <= 0 or gpus < self.options.gpus_per_worker:
            raise ValueError(
                f"the Ray cluster has {gpus:g} GPUs; set SLICK_RAY_WORKERS (and "
                "SLICK_RAY_GPUS_PER_WORKER=0 for CPU actors)")
        return int(gpus // self.options.gpus_per_worker)

    # -- what the worker's job loop uses ----------------------------------------------------

    def probe_shards(self, run: Any, shards: Iterable[tuple[int, list]], *, seed: int,
                     check: Callable[[], None]) -> Iterator[ProbedShard]:
        """Probe `shards` ((index, rows) pairs) on the actors; yields each as it finishes, in
        any order. `check` runs while waiting and may raise to stop the job; shards not
        started then are cancelled."""
        # The actors need the parameters and the exemplar pool, not the dataset itself.
        slim = copy.copy(run)
        slim.dataset, slim.exemplars = None, None
        job, run_ref = uuid.uuid4().hex, [ray.put(slim)]
        queue = iter(shards)  # taken as actors free up: never every shard's rows at once
        load = [0] * len(self.actors)
        pending: dict[Any, tuple[int, list, int]] = {}

        def submit() -> None:
            while min(load) < self.options.in_flight_per_worker:
                shard = next(queue, None)
                if shard is None:
                    return
                worker = load.index(min(load))
                index, rows = shard
                ref = self.actors[worker].probe.remote(job, run_ref, rows, seed)
                pending[ref] = (index, rows, worker)
                load[worker] += 1

        try:
            submit()
            while pending:
                check()
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_WAIT_S)
                for ref in done:
                    index, rows, worker = pending.pop(ref)
                    load[worker] -= 1
                    table, generations = ray.get(ref)
                    self.shards_done[worker] += 1
                    submit()
                    yield ProbedShard(index, rows, _replay(table, generations))
        finally:
            for ref in pending:  # queued shards are dropped; a running one finishes unheard
                try:
                    ray.cancel(ref)
                except Exception as exc:  # noqa: BLE001 - best effort
                    log.debug("could not cancel a shard task: %s", exc)

    # -- requests batched by the caller, spread over the actors ------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Split the batch into one contiguous slice per actor; results in request order."""
        size = -(-len(requests) // len(self.actors)) or 1
        slices = [list(requests[i:i + size]) for i in range(0, len(requests), size)]
        refs = [a.generate.remote(s) for a, s in zip(self.actors, slices, strict=False)]
        return [r for part in ray.get(refs) for r in part]

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return ray.get(self.actors[0].render_chat.remote(list(messages)))

    def info(self) -> dict[str, str]:
        first = {k: v for k, v in self.actor_infos[0].items() if k not in ("node", "pid")}
        nodes = sorted({i["node"] for i in self.actor_infos})
        return {**first, "executor": "ray", "ray_workers": str(len(self.actors)),
                "ray_nodes": ",".join(nodes)}

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception as exc:  # noqa: BLE001 - a dead actor needs no closing
                log.debug("engine actor did not close cleanly: %s", exc)
            ray.kill(actor)
        self.actors = []
        if getattr(self, "_owns_ray", False) and ray.is_initialized():
            ray.shutdown()


def _replay(table: Any, generations: int) -> Callable[[Callable[[int], None]], Any]:
    """A shard probed on an actor: its generations are reported at once, its table returned."""

    def probe(on_generated: Callable[[int], None]) -> Any:
        on_generated(generations)
        return table

    return probe
