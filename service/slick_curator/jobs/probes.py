"""Creating probe jobs: every check that can fail up front fails here, with the parameter."""

from __future__ import annotations

import importlib.util
import logging
import uuid

from slick_client.models import ProbeCreate

from slick_curator.engines.registry import supports_fast_mode
from slick_curator.errors import BadRequest, NotFound
from slick_curator.jobs.datasets import DatasetService
from slick_curator.jobs.manager import JobManager
from slick_curator.logs import job_context
from slick_curator.probing.pipeline import ProbeRun
from slick_curator.probing.prompts import ExemplarError
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, ProbeRecord, Store

log = logging.getLogger(__name__)


class ProbeService:
    """Validates a ProbeCreate, stores the job as queued and hands it to the JobManager."""

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
        params = body.params()
        if params.mode == "fast" and not supports_fast_mode(engine):
            raise BadRequest(f"mode 'fast' needs an engine that can score answers "
                             f"(transformers); engine {engine!r} cannot", param="mode")
        try:
            ProbeRun(self.datasets.load(dataset), params,
                     exemplars=self.datasets.load(exemplars) if exemplars else None,
                     shard_size=self.settings.shard_size)
        except ExemplarError as exc:
            param = "exemplar_dataset_id" if exemplars else "k_shot"
            raise BadRequest(f"exemplar pool too small: {exc}", param=param) from exc
        except ValueError as exc:  # any other parameter/data combination the core rejects
            raise BadRequest(f"cannot probe dataset {dataset.id}: {exc}") from exc
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

    def _engine(self, engine: str | None) -> str:
        default = self.settings.engine
        engine = engine or default
        allowed = sorted({*self.settings.allowed_engines, default})
        if engine not in allowed:
            raise BadRequest(f"engine {engine!r} is not allowed on this server; allowed: "
                             f"{', '.join(allowed)} (SLICK_ALLOWED_ENGINES)", param="engine")
        if engine == "vllm" and importlib.util.find_spec("vllm") is None:
            raise BadRequest("engine 'vllm' is not installed on this server "
                             "(pip install 'slick-curator[vllm]')", param="engine")
        return engine

    def _model(self, model: str | None) -> str:
        default = self.settings.model
        model = model or default
        allowed = sorted({*self.settings.allowed_models, default})
        if model not in allowed:
            raise BadRequest(f"model {model!r} is not allowed on this server; allowed: "
                             f"{', '.join(allowed)} (SLICK_ALLOWED_MODELS)", param="model")
        return model
