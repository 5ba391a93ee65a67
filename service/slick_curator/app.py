"""The FastAPI application: `create_app(settings)` builds everything explicitly, no globals.

The lifespan opens the job store in the data dir, re-queues jobs a crash interrupted, and
starts the job supervisor (which spawns the worker that loads the default engine); shutdown
stops the worker and closes the store. `uvicorn --factory slick_curator.app:create_app` works.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from slick_curator._version import __version__
from slick_curator.api import curation, datasets, finetunes, health, probes
from slick_curator.api.deps import Services, require_key
from slick_curator.errors import UnhandledErrors, install_error_handlers
from slick_curator.jobs import DatasetService, JobManager, ProbeService
from slick_curator.jobs.finetunes import FinetuneManager, FinetuneService
from slick_curator.logs import configure_logging
from slick_curator.metrics import HttpMetricsMiddleware, Metrics
from slick_curator.results import Results
from slick_curator.settings import Settings
from slick_curator.store import Store

log = logging.getLogger(__name__)

_DESCRIPTION = """Curate SFT data with SliCK: upload a dataset, probe what the target model
already knows, download the rows annotated HighlyKnown / MaybeKnown / WeaklyKnown / Unknown.

Every error has one shape: `{"error": {"type", "message", "param", "code", "errors"}}`.
When the server has API keys, every `/v1` route needs `Authorization: Bearer <key>`."""


def create_app(settings: Settings | None = None, *, configure_logs: bool = True) -> FastAPI:
    """The app for `settings` (default: from SLICK_ environment variables and .env)."""
    settings = settings or Settings()
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if configure_logs:
            configure_logging(settings.log_level, settings.log_json)
        store = Store(settings.data_dir)
        jobs = JobManager(settings, store, metrics)
        dataset_service = DatasetService(settings, store)
        probe_service = ProbeService(settings, store, dataset_service, jobs)
        finetune_jobs = FinetuneManager(settings, store, jobs)
        app.state.services = Services(
            settings=settings, store=store, metrics=metrics, jobs=jobs,
            datasets=dataset_service, probes=probe_service,
            finetunes=FinetuneService(settings, store, probe_service, finetune_jobs),
            finetune_jobs=finetune_jobs, results=Results(store))
        jobs.start()
        finetune_jobs.start()
        log.info("serving data dir %s (default engine %s, model %s)",
                 settings.data_dir.resolve(), settings.engine, settings.model)
        try:
            yield
        finally:
            finetune_jobs.stop()
            jobs.stop()
            dataset_service.close()
            del app.state.services
            store.close()
            log.info("stopped")

    app = FastAPI(title="slick-curator", version=__version__,
                  description=_DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(UnhandledErrors)  # inside the metrics one, which sees the 500
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    keyed = [Depends(require_key)]
    app.include_router(datasets.router, dependencies=keyed)
    app.include_router(probes.router, dependencies=keyed)
    app.include_router(curation.router, dependencies=keyed)
    app.include_router(finetunes.router, dependencies=keyed)
    app.include_router(health.router)
    return app
