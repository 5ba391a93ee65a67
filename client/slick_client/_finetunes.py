"""`client.finetunes`: fine-tune-and-verify jobs (sync and async)."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slick_client._base import TERMINAL_STATUSES, parse, path_id
from slick_client._calls import Call, Plan, Sleep
from slick_client._errors import FinetuneFailedError, InvalidParamsError, WaitTimeoutError
from slick_client._parquet import table_from_bytes
from slick_client._probe_calls import list_params
from slick_client._progress import ProgressBar
from slick_client._session import AsyncSession, Session
from slick_client._transfer import fetch_plan
from slick_client.schemas import (
    FinetuneCreate,
    FinetuneParams,
    FinetunePublic,
    FinetuneReportPublic,
    FinetunesPublic,
    JobStatus,
)

if TYPE_CHECKING:
    import pyarrow as pa


__all__ = ["AsyncFinetunes", "Finetunes"]


def finetune_payload(probe_id: str, *, eval_dataset_id: str | None, eval_probe_id: str | None,
                     variants: Sequence[str] | None, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of POST /v1/finetunes, validated with the shared schema before sending."""
    try:
        fields: dict[str, Any] = {"probe_id": probe_id, "params": FinetuneParams(**params)}
        for key, value in (("eval_dataset_id", eval_dataset_id),
                           ("eval_probe_id", eval_probe_id), ("variants", variants)):
            if value is not None:
                fields[key] = list(value) if key == "variants" else value
        create = FinetuneCreate(**fields)
    except ValidationError as exc:
        raise InvalidParamsError.from_validation_error(
            exc, known=list(FinetuneParams.model_fields)) from None
    body = create.model_dump(mode="json", exclude_unset=True)
    body["params"] = create.params.model_dump(mode="json", exclude_unset=True)
    return body


def _deadline_error(job: FinetunePublic | None, finetune_id: str) -> WaitTimeoutError:
    where = (f" ({job.status}, {job.progress.done}/{job.progress.total} steps)"
             if job else "")
    return WaitTimeoutError(f"fine-tune {finetune_id} still not finished when the wait timed "
                            f"out{where}; it goes on on the server", job=job)  # type: ignore[arg-type]


def _job_path(finetune_id: str, suffix: str = "") -> str:
    return f"/v1/finetunes/{path_id(finetune_id)}{suffix}"


def create_call(probe_id: str, *, eval_dataset_id: str | None, eval_probe_id: str | None,
                variants: Sequence[str] | None, params: dict[str, Any]) -> Call[FinetunePublic]:
    payload = finetune_payload(probe_id, eval_dataset_id=eval_dataset_id,
                               eval_probe_id=eval_probe_id, variants=variants, params=params)
    return Call("POST", "/v1/finetunes", retry=False, json=payload,
                parse=functools.partial(parse, FinetunePublic))


def get_call(finetune_id: str) -> Call[FinetunePublic]:
    return Call("GET", _job_path(finetune_id), retry=True,
                parse=functools.partial(parse, FinetunePublic))


def list_call(limit: int | None, offset: int | None, status: str | None
              ) -> Call[FinetunesPublic]:
    return Call("GET", "/v1/finetunes", retry=True, params=list_params(limit, offset, status),
                parse=functools.partial(parse, FinetunesPublic))


def cancel_call(finetune_id: str) -> Call[FinetunePublic]:
    return Call("POST", _job_path(finetune_id, "/cancel"), retry=False,
                parse=functools.partial(parse, FinetunePublic))


def wait_plan(finetune_id: str, *, progress: bool, timeout: float | None,
              poll_interval: float) -> Plan[FinetunePublic]:
    """Poll until the job ends (see `Finetunes.wait`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with contextlib.closing(ProgressBar(enabled=progress)) as bar:
        while True:
            job: FinetunePublic = yield get_call(finetune_id)
            bar.update(job)
            if job.status in TERMINAL_STATUSES:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise _deadline_error(job, finetune_id)
            left = None if deadline is None else deadline - time.monotonic()
            yield Sleep(poll_interval if left is None else max(0.0, min(poll_interval, left)))
    if job.status != "succeeded":
        raise FinetuneFailedError(job)
    return job


def report_plan(finetune_id: str, path: str | os.PathLike[str] | None) -> Plan[str | Path]:
    return fetch_plan(_job_path(finetune_id, "/report"), {}, path,
                      lambda response: response.text)


def report_json_call(finetune_id: str) -> Call[FinetuneReportPublic]:
    return Call("GET", _job_path(finetune_id, "/report.json"), retry=True,
                parse=functools.partial(parse, FinetuneReportPublic))


def predictions_plan(finetune_id: str, path: str | os.PathLike[str] | None
                     ) -> Plan[pa.Table | Path]:
    return fetch_plan(_job_path(finetune_id, "/predictions"), {}, path,
                      lambda response: table_from_bytes(response.content))


class Finetunes:
    """Fine-tune jobs on the server: `client.finetunes`."""

    def __init__(self, client: Session) -> None:
        self._client = client

    def create(self, probe_id: str, *, eval_dataset_id: str | None = None,
               eval_probe_id: str | None = None, variants: Sequence[str] | None = None,
               **params: Any) -> FinetunePublic:
        """Start fine-tuning on the variants of a succeeded probe; returns the queued job.

        The evaluation set is an uploaded dataset (`eval_dataset_id`; the server probes it
        too) or a succeeded probe of one (`eval_probe_id`). `variants` default to original,
        filter and relabel; `params` are `FinetuneParams` fields (method, epochs,
        learning_rate, batch_size, kl_weight, trainable, ...), validated here first
        (InvalidParamsError, nothing sent). Never retried.
        """
        return self._client._run(create_call(
            probe_id, eval_dataset_id=eval_dataset_id, eval_probe_id=eval_probe_id,
            variants=variants, params=params))

    def get(self, finetune_id: str) -> FinetunePublic:
        """The job's current state: status, progress (steps, rows, rate, ETA, stage)."""
        return self._client._run(get_call(finetune_id))

    def list(self, *, limit: int | None = None, offset: int | None = None,
             status: JobStatus | None = None) -> FinetunesPublic:
        """A page of jobs, newest first, optionally only those with `status`."""
        return self._client._run(list_call(limit, offset, status))

    def cancel(self, finetune_id: str) -> FinetunePublic:
        """Ask the server to cancel the job (it stops at its next training step)."""
        return self._client._run(cancel_call(finetune_id))

    def wait(self, finetune_id: str, *, progress: bool = False, timeout: float | None = None,
             poll_interval: float = 2.0) -> FinetunePublic:
        """Poll until the job ends; returns it when it succeeded.

        `progress=True` draws a bar on stderr (optimizer steps of all variants done/total,
        rate, ETA, the variant and stage running now). Raises FinetuneFailedError (a
        JobFailedError) if it failed or was cancelled, WaitTimeoutError after `timeout`
        seconds (the job goes on on the server).
        """
        return self._client._run(wait_plan(finetune_id, progress=progress, timeout=timeout,
                                           poll_interval=poll_interval))

    def report(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
               ) -> str | Path:
        """The comparison report as one HTML page; with `path`, saved there."""
        return self._client._run(report_plan(finetune_id, path))

    def report_json(self, finetune_id: str) -> FinetuneReportPublic:
        """The report's numbers: metrics per variant, checkpoint and category, comparisons."""
        return self._client._run(report_json_call(finetune_id))

    def predictions(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
                    ) -> pa.Table | Path:
        """Every variant's answer to every evaluation question (pyarrow.Table, or saved as
        Parquet at `path`)."""
        return self._client._run(predictions_plan(finetune_id, path))


class AsyncFinetunes:
    """Fine-tune jobs on the server: `client.finetunes` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def create(self, probe_id: str, *, eval_dataset_id: str | None = None,
                     eval_probe_id: str | None = None, variants: Sequence[str] | None = None,
                     **params: Any) -> FinetunePublic:
        """See `Finetunes.create`."""
        return await self._client._run(create_call(
            probe_id, eval_dataset_id=eval_dataset_id, eval_probe_id=eval_probe_id,
            variants=variants, params=params))

    async def get(self, finetune_id: str) -> FinetunePublic:
        """See `Finetunes.get`."""
        return await self._client._run(get_call(finetune_id))

    async def list(self, *, limit: int | None = None, offset: int | None = None,
                   status: JobStatus | None = None) -> FinetunesPublic:
        """See `Finetunes.list`."""
        return await self._client._run(list_call(limit, offset, status))

    async def cancel(self, finetune_id: str) -> FinetunePublic:
        """See `Finetunes.cancel`."""
        return await self._client._run(cancel_call(finetune_id))

    async def wait(self, finetune_id: str, *, progress: bool = False,
                   timeout: float | None = None, poll_interval: float = 2.0
                   ) -> FinetunePublic:
        """See `Finetunes.wait`."""
        return await self._client._run(wait_plan(
            finetune_id, progress=progress, timeout=timeout, poll_interval=poll_interval))

    async def report(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
                     ) -> str | Path:
        """See `Finetunes.report`."""
        return await self._client._run(report_plan(finetune_id, path))

    async def report_json(self, finetune_id: str) -> FinetuneReportPublic:
        """See `Finetunes.report_json`."""
        return await self._client._run(report_json_call(finetune_id))

    async def predictions(self, finetune_id: str, *,
                          path: str | os.PathLike[str] | None = None) -> pa.Table | Path:
        """See `Finetunes.predictions`."""
        return await self._client._run(predictions_plan(finetune_id, path))
