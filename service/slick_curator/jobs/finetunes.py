"""Fine-tune jobs: creation (every check up front, with the parameter at fault) and the
supervisor that runs them, one at a time, out of the API process.

A job waits for the probe of its evaluation set (an ordinary probe job, started at creation
so results break down by category), then `finetune.run_finetune` trains each variant in a
process of its own. This thread is the only code that writes fine-tune state to the store.
After a crash or shutdown an unfinished job is queued again; variants already trained are
kept (their outcome files are on disk), the others are trained from the start.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from slick_client.schemas import FinetuneCreate, FinetuneProgress, ProbeCreate

from slick_curator.curation import AnnotatedError, AnnotatedFile
from slick_curator.errors import BadRequest, Conflict, NotFound, ServiceError
from slick_curator.finetune import (
    FinetuneSpec,
    RunCancelled,
    RunFailed,
    RunInterrupted,
    VariantError,
    build_plan,
    run_finetune,
)
from slick_curator.finetune.data import EvalRow
from slick_curator.finetune.process import CONTEXT
from slick_curator.jobs.manager import JobManager
from slick_curator.jobs.probes import ProbeService
from slick_curator.jobs.supervisor import Supervisor
from slick_curator.logs import job_context
from slick_curator.results import succeeded
from slick_curator.settings import Settings
from slick_curator.store import FinetuneRecord, ProbeRecord, Store
from slick_curator.store.finetunes import FinetuneStore
from slick_curator.store.jobs import JobRecord

log = logging.getLogger(__name__)

_REMOTE_ENGINES = ("openai",)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


class FinetuneService:
    """Validates a FinetuneCreate, starts the evaluation probe, stores the job as queued."""

    def __init__(self, settings: Settings, store: Store, probes: ProbeService,
                 manager: FinetuneManager) -> None:
        self.settings = settings
        self.store = store
        self.probes = probes
        self.manager = manager

    def create(self, body: FinetuneCreate) -> FinetuneRecord:
        probe = self._succeeded(body.probe_id, "probe_id")
        if (body.eval_dataset_id is None) == (body.eval_probe_id is None):
            raise BadRequest("give exactly one of eval_dataset_id (held-out questions to probe "
                             "and evaluate on) and eval_probe_id (a finished probe of them)",
                             param="eval_dataset_id")
        self._check_trainable(probe, body)
        train = self._annotated(probe)
        if body.eval_probe_id is not None:
            eval_probe = self._succeeded(body.eval_probe_id, "eval_probe_id")
            evaluation: AnnotatedFile | list[EvalRow] = self._annotated(eval_probe)
        else:
            dataset = self.store.datasets.get(body.eval_dataset_id)
            if dataset is None:
                raise NotFound(f"no dataset {body.eval_dataset_id!r}; upload it with POST "
                               "/v1/datasets", param="eval_dataset_id")
            evaluation = [EvalRow(row=e.row, question=e.question, answers=e.answers,
                                  group=e.group, category=None, id=e.id)
                          for e in self.probes.datasets.load(dataset).examples]
        try:
            build_plan(train, evaluation, body.params, body.variants)
        except VariantError as exc:
            raise BadRequest(str(exc), param="variants" if exc.variant else "probe_id") from exc
        eval_probe_id = body.eval_probe_id or self._start_eval_probe(probe, body).id
        record = FinetuneRecord(
            id="ft_" + uuid.uuid4().hex[:24], probe_id=probe.id,
            eval_dataset_id=body.eval_dataset_id, eval_probe_id=eval_probe_id, status="queued",
            model=probe.model, variants=list(body.variants),
            params=body.params.model_dump(mode="json"),
            progress=FinetuneProgress(stage="eval_probe" if body.eval_dataset_id else "queued"
                                      ).model_dump())
        self.store.finetunes.insert(record)
        self.manager.submit(record.id)
        with job_context(record.id):
            log.info("queued: probe %s, evaluation probe %s, variants %s", probe.id,
                     eval_probe_id, ", ".join(body.variants))
        return record

    def _succeeded(self, probe_id: str, param: str) -> ProbeRecord:
        return succeeded(self.store.probes.get(probe_id), probe_id, noun="probe", param=param,
                         needs="fine-tuning can start")

    def _check_trainable(self, probe: ProbeRecord, body: FinetuneCreate) -> None:
        if probe.engine in _REMOTE_ENGINES:
            raise BadRequest(f"probe {probe.id} ran on the remote engine {probe.engine!r}; "
                             "fine-tuning needs the model's weights on this server",
                             param="probe_id")
        if body.params.method == "lora" and importlib.util.find_spec("peft") is None:
            raise BadRequest("LoRA needs the peft package, which this server lacks: pip "
                             "install 'slick-curator[finetune]' (or method 'full')",
                             param="params.method")
        from slick_curator.weights import model_aliases

        model = probe.model
        folder = Path(model).expanduser()
        if model not in model_aliases() and not (folder / "config.json").is_file() and (
                model.count("/") != 1 or model.startswith((".", "/"))):
            raise BadRequest(f"probe {probe.id} used model {model!r}, which has no weights "
                             "here to fine-tune (not an alias, a model folder or a hub id)",
                             param="probe_id")

    def _annotated(self, probe: ProbeRecord) -> AnnotatedFile:
        try:
            return AnnotatedFile.read(self.store.paths.result(probe.id))
        except (AnnotatedError, OSError) as exc:
            raise ServiceError(f"the result of probe {probe.id} is unreadable: {exc}") from exc

    def _start_eval_probe(self, probe: ProbeRecord, body: FinetuneCreate) -> ProbeRecord:
        """Probe the evaluation set as the training data was probed (same model, engine,
        parameters and exemplar source, or the evaluation set itself as exemplar pool)."""
        fields: dict[str, Any] = {**probe.params, "dataset_id": body.eval_dataset_id,
                                  "exemplar_dataset_id": probe.exemplar_dataset_id,
                                  "model": probe.model}
        if probe.engine != self.settings.engine:
            fields["engine"] = probe.engine
        try:
            create = ProbeCreate(**fields)
        except ValidationError as exc:
            raise BadRequest(f"cannot probe the evaluation set with the training probe's "
                             f"settings: {exc.errors()[0]['msg']}", param="probe_id") from exc
        try:
            return self.probes.create(create)
        except BadRequest as exc:
            raise BadRequest(f"cannot probe the evaluation set: {exc.message}",
                             param="eval_dataset_id") from exc


class FinetuneManager(Supervisor, thread_name="slick-finetunes", kind="fine-tune",
                      id_param="finetune_id"):
    """Runs fine-tune jobs one at a time in a supervisor thread; see the module docstring."""

    def __init__(self, settings: Settings, store: Store, jobs: JobManager) -> None:
        super().__init__(settings, store)
        self.jobs = jobs
        self._cancel = CONTEXT.Event()
        self._last_write = 0.0
        self._last_stage: tuple[str | None, str | None] | None = None

    # -- called from request handlers -------------------------------------------------------

    @property
    def table(self) -> FinetuneStore:
        return self.store.finetunes

    def _signal_running(self) -> bool:
        self._cancel.set()
        return True

    def _cancelled_before_running(self, record: JobRecord) -> None:
        self._cancel_eval_probe(record)  # type: ignore[arg-type]

    def _cancel_eval_probe(self, record: FinetuneRecord) -> None:
        if record.eval_dataset_id is None:  # a given probe is not ours to cancel
            return
        probe = self.store.probes.get(record.eval_probe_id)
        if probe is not None and not probe.terminal:
            try:
                self.jobs.cancel(probe.id)
            except Conflict:
                pass

    # -- lifecycle --------------------------------------------------------------------------

    def _recover(self) -> None:
        """A running job was killed with the server: queued again, trained variants kept."""
        self._pending.extend(self.store.finetunes.recover())

    # -- the supervisor thread --------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                finetune_id = self._next()
                if finetune_id is None:
                    time.sleep(0.2)
                    continue
                self._run(finetune_id)
            except Exception:
                log.exception("fine-tune supervisor error")
                time.sleep(1.0)

    def _next(self) -> str | None:
        """The first queued job whose evaluation probe succeeded; fails those whose probe did
        not."""
        with self._lock:
            for finetune_id in list(self._pending):
                record = self.store.finetunes.get(finetune_id)
                if record is None or record.terminal:
                    self._pending.remove(finetune_id)
                    continue
                probe = self.store.probes.get(record.eval_probe_id)
                if probe is None or probe.status in ("failed", "cancelled"):
                    self._pending.remove(finetune_id)
                    state = "is gone" if probe is None else f"{probe.status}" + (
                        f": {probe.error}" if probe.error else "")
                    self.store.finetunes.finish(
                        finetune_id, "failed",
                        error=f"the evaluation probe {record.eval_probe_id} {state}")
                    continue
                if probe.status == "succeeded":
                    self._pending.remove(finetune_id)
                    self._current = finetune_id
                    self._cancel.clear()
                    return finetune_id
        return None

    def _run(self, finetune_id: str) -> None:
        record = self.store.finetunes.get(finetune_id)
        assert record is not None
        with job_context(finetune_id):
            try:
                status, error, results = self._train(record)
            except RunInterrupted:
                with self._lock:
                    self.store.finetunes.requeue(finetune_id)
                    self._current = None
                log.info("interrupted; queued again (trained variants are kept)")
                return
            with self._lock:
                self._current = None
                self.store.finetunes.finish(finetune_id, status, error=error, results=results)
            log.info("fine-tune %s%s", status, f": {error}" if error else "")

    def _train(self, record: FinetuneRecord) -> tuple[str, str | None, dict | None]:
        from slick_client.schemas import FinetuneParams

        from slick_curator.weights import resolve_model

        self.store.finetunes.mark_running(record.id)
        params = FinetuneParams(**record.params)
        try:
            train = AnnotatedFile.read(self.store.paths.result(record.probe_id))
            evaluation = AnnotatedFile.read(self.store.paths.result(record.eval_probe_id))
            plan = build_plan(train, evaluation, params, record.variants)
            model_path = resolve_model(record.model, cache_dir=self.settings.cache_dir)
        except (AnnotatedError, OSError, VariantError, ValueError) as exc:
            return "failed", f"{type(exc).__name__}: {exc}", None
        out_dir = self.store.paths.finetune(record.id)
        out_dir.mkdir(parents=True, exist_ok=True)
        spec = FinetuneSpec(
            out_dir=out_dir, plan=plan, params=params, variants=record.variants,
            model_path=model_path, model=record.model, device=self.settings.device,
            finetune_id=record.id, probe_id=record.probe_id, log_level=self.settings.log_level,
            log_json=self.settings.log_json)
        try:
            report = run_finetune(spec, cancel=self._cancel, should_stop=self._stopping.is_set,
                                  report=lambda p: self._progress(record.id, p))
        except RunCancelled:
            return "cancelled", None, None
        except RunFailed as exc:
            log.error("training failed: %s", exc)
            return "failed", _first_line(str(exc)), None
        results = {v.variant: {m: getattr(v.convergence.overall, m).value
                               for m in ("accuracy", "hallucination", "abstention", "precision")}
                   for v in report.variants}
        return "succeeded", None, results

    def _progress(self, finetune_id: str, progress: FinetuneProgress) -> None:
        """Store progress, at most every progress_interval_s unless the stage changed."""
        now = time.monotonic()
        changed = (progress.stage, progress.variant) != self._last_stage
        if changed or now - self._last_write >= self.settings.progress_interval_s:
            self.store.finetunes.update_progress(finetune_id, progress)
            self._last_write, self._last_stage = now, (progress.stage, progress.variant)
