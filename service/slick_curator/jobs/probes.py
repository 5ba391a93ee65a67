"""Creating probe jobs: every check that can fail up front fails here, with the parameter."""

from __future__ import annotations

import importlib.util
import logging
import uuid

from slick_client.schemas import ProbeCreate

from slick_curator.engines.registry import (
    available_engines,
    supports_exact_mode,
    supports_fast_mode,
)
from slick_curator.errors import BadRequest, NotFound
from slick_curator.jobs.datasets import DatasetService
from slick_curator.jobs.manager import JobManager
from slick_curator.logs import job_context
from slick_curator.probing.params import ProbeParams, resolve_mode
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, ProbeRecord, Store

log = logging.getLogger(__name__)


class ProbeService:
    """Validates a ProbeCreate, stores the job as queued and hands it to the JobManager.

    Validation reads only the stored dataset records (rows, groups, distinct questions per
    group, recorded at upload), never the files: creating a probe stays cheap whatever the
    dataset's size. The worker repeats the exact exemplar check when the job starts.
    """

    def __init__(self, settings: Settings, store: Store, datasets: DatasetService,
                 jobs: JobManager) -> None:
        self.settings = settings
        self.store = store
        self.datasets = datasets
        self.jobs = jobs

    def create(self, body: ProbeCreate) -> ProbeRecord:
        dataset = self._dataset(body.dataset_id, "dataset_id")
        exemplars = (self._dataset(body.exemplar_dataset_id, "exemplar_dataset_id")
                     if body.exemplar_dataset_id else None)
        engine = self._engine(body.engine)
        model = self._model(body.model)
        if dataset.valid_rows == 0:
            raise BadRequest(f"dataset {dataset.id} has no valid rows to probe "
                             f"({dataset.rows} row(s), all with errors)", param="dataset_id")
        params = resolve_mode(body.params(), engine)
        if params.mode == "fast" and not supports_fast_mode(engine):
            raise BadRequest(f"mode 'fast' needs an engine that can score answers "
                             f"(transformers); engine {engine!r} cannot", param="mode")
        if params.mode == "exact" and not supports_exact_mode(engine):
            raise BadRequest(f"mode 'exact' needs an engine that can enumerate continuations "
                             f"(transformers); engine {engine!r} cannot", param="mode")
        self._check_pool(dataset, exemplars, params)
        record = ProbeRecord(
            id="pr_" + uuid.uuid4().hex[:24], dataset_id=dataset.id,
            exemplar_dataset_id=exemplars.id if exemplars else None, status="queued",
            model=model, engine=engine, params=params.model_dump(mode="json"),
            shard_size=self.settings.shard_size, total=dataset.valid_rows)
        self.store.probes.insert(record)
        self.jobs.submit(record.id)
        with job_context(record.id):
            log.info("queued: dataset %s, %s/%s", dataset.id, engine, model)
        return record

    def _dataset(self, dataset_id: str, param: str) -> DatasetRecord:
        record = self.store.datasets.get(dataset_id)
        if record is None:
            raise NotFound(f"no dataset {dataset_id!r}; upload it with POST /v1/datasets",
                           param=param)
        return record

    @staticmethod
    def _check_pool(dataset: DatasetRecord, exemplars: DatasetRecord | None,
                    params: ProbeParams) -> None:
        """Every group of `dataset` can get k_shot exemplars that are not the row itself."""
        k, pool = params.k_shot, exemplars or dataset
        param = "exemplar_dataset_id" if exemplars else "k_shot"
        # Records from before `group_questions` existed: rows per group, an upper bound.
        distinct = pool.group_questions if pool.group_questions is not None else pool.groups
        own = 0 if exemplars else 1  # drawn from its own file, a row loses its own question
        for group in sorted(dataset.groups):
            if group not in distinct:
                if k == 0:
                    continue
                raise BadRequest(f"exemplar pool too small: group {group!r} has no exemplars; "
                                 f"available groups: {', '.join(sorted(distinct)) or 'none'}",
                                 param=param)
            if distinct[group] - own < k:
                where = ("in the exemplar dataset" if exemplars
                         else "when rows are drawn from the same file")
                raise BadRequest(
                    f"exemplar pool too small: group {group!r} has {distinct[group]} distinct "
                    f"exemplar questions; k_shot={k} needs at least {k + own} {where}. Use "
                    "fewer shots, a larger group, or an exemplar file.", param=param)

    def _engine(self, engine: str | None) -> str:
        engine = engine or self.settings.engine
        allowed = self.settings.probe_engines()
        if engine not in allowed:
            raise BadRequest(f"engine {engine!r} is not allowed on this server; allowed: "
                             f"{', '.join(allowed)} (SLICK_ALLOWED_ENGINES)", param="engine")
        if engine not in available_engines():
            raise BadRequest(f"engine {engine!r} is allowed by SLICK_ALLOWED_ENGINES but not an "
                             f"engine of this server; engines: {', '.join(available_engines())}",
                             param="engine")
        if engine == "vllm" and importlib.util.find_spec("vllm") is None:
            raise BadRequest("engine 'vllm' is not installed on this server "
                             "(pip install 'slick-curator[vllm]')", param="engine")
        return engine

    def _model(self, model: str | None) -> str:
        model = model or self.settings.model
        allowed = self.settings.probe_models()
        if model not in allowed:
            raise BadRequest(f"model {model!r} is not allowed on this server; allowed: "
                             f"{', '.join(allowed)} (SLICK_ALLOWED_MODELS)", param="model")
        return model
