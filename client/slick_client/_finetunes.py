"""`client.finetunes`: fine-tune-and-verify jobs (sync and async)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slick_client import _retry
from slick_client._base import TERMINAL_STATUSES, parse, path_id
from slick_client._errors import FinetuneFailedError, InvalidParamsError, WaitTimeoutError
from slick_client._parquet import table_from_bytes
from slick_client._probes import list_params
from slick_client._progress import ProgressBar
from slick_client._session import AsyncSession, Session
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
        payload = finetune_payload(probe_id, eval_dataset_id=eval_dataset_id,
                                   eval_probe_id=eval_probe_id, variants=variants, params=params)
        response = self._client._request("POST", "/v1/finetunes", json=payload, retry=False)
        return parse(FinetunePublic, response)

    def get(self, finetune_id: str) -> FinetunePublic:
        """The job's current state: status, progress (steps, rows, rate, ETA, stage)."""
        response = self._client._request("GET", f"/v1/finetunes/{path_id(finetune_id)}",
                                         retry=True)
        return parse(FinetunePublic, response)

    def list(self, *, limit: int | None = None, offset: int | None = None,
             status: JobStatus | None = None) -> FinetunesPublic:
        """A page of jobs, newest first, optionally only those with `status`."""
        response = self._client._request("GET", "/v1/finetunes", retry=True,
                                         params=list_params(limit, offset, status))
        return parse(FinetunesPublic, response)

    def cancel(self, finetune_id: str) -> FinetunePublic:
        """Ask the server to cancel the job (it stops at its next training step)."""
        response = self._client._request(
            "POST", f"/v1/finetunes/{path_id(finetune_id)}/cancel", retry=False)
        return parse(FinetunePublic, response)

    def wait(self, finetune_id: str, *, progress: bool = False, timeout: float | None = None,
             poll_interval: float = 2.0) -> FinetunePublic:
        """Poll until the job ends; returns it when it succeeded.

        `progress=True` draws a bar on stderr (optimizer steps of all variants done/total,
        rate, ETA, the variant and stage running now). Raises FinetuneFailedError (a
        JobFailedError) if it failed or was cancelled, WaitTimeoutError after `timeout`
        seconds (the job goes on on the server).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        job: FinetunePublic | None = None
        with contextlib.closing(ProgressBar(enabled=progress)) as bar:
            while True:
                job = self.get(finetune_id)
                bar.update(job)
                if job.status in TERMINAL_STATUSES:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise _deadline_error(job, finetune_id)
                left = None if deadline is None else deadline - time.monotonic()
                _retry.sleep(poll_interval if left is None
                             else max(0.0, min(poll_interval, left)))
        if job.status != "succeeded":
            raise FinetuneFailedError(job)
        return job

    def report(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
               ) -> str | Path:
        """The comparison report as one HTML page; with `path`, saved there."""
        response = self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/report", retry=True)
        if path is None:
            return response.text
        target = Path(path)
        target.write_text(response.text, encoding="utf-8")
        return target

    def report_json(self, finetune_id: str) -> FinetuneReportPublic:
        """The report's numbers: metrics per variant, checkpoint and category, comparisons."""
        response = self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/report.json", retry=True)
        return parse(FinetuneReportPublic, response)

    def predictions(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
                    ) -> pa.Table | Path:
        """Every variant's answer to every evaluation question (pyarrow.Table, or saved as
        Parquet at `path`)."""
        response = self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/predictions", retry=True)
        if path is None:
            return table_from_bytes(response.content)
        target = Path(path)
        target.write_bytes(response.content)
        return target


class AsyncFinetunes:
    """Fine-tune jobs on the server: `client.finetunes` of an `AsyncClient`."""

    def __init__(self, client: AsyncSession) -> None:
        self._client = client

    async def create(self, probe_id: str, *, eval_dataset_id: str | None = None,
                     eval_probe_id: str | None = None, variants: Sequence[str] | None = None,
                     **params: Any) -> FinetunePublic:
        """See `Finetunes.create`."""
        payload = finetune_payload(probe_id, eval_dataset_id=eval_dataset_id,
                                   eval_probe_id=eval_probe_id, variants=variants, params=params)
        response = await self._client._request("POST", "/v1/finetunes", json=payload,
                                               retry=False)
        return parse(FinetunePublic, response)

    async def get(self, finetune_id: str) -> FinetunePublic:
        """See `Finetunes.get`."""
        response = await self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}", retry=True)
        return parse(FinetunePublic, response)

    async def list(self, *, limit: int | None = None, offset: int | None = None,
                   status: JobStatus | None = None) -> FinetunesPublic:
        """See `Finetunes.list`."""
        response = await self._client._request("GET", "/v1/finetunes", retry=True,
                                               params=list_params(limit, offset, status))
        return parse(FinetunesPublic, response)

    async def cancel(self, finetune_id: str) -> FinetunePublic:
        """See `Finetunes.cancel`."""
        response = await self._client._request(
            "POST", f"/v1/finetunes/{path_id(finetune_id)}/cancel", retry=False)
        return parse(FinetunePublic, response)

    async def wait(self, finetune_id: str, *, progress: bool = False,
                   timeout: float | None = None, poll_interval: float = 2.0
                   ) -> FinetunePublic:
        """See `Finetunes.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with contextlib.closing(ProgressBar(enabled=progress)) as bar:
            while True:
                job = await self.get(finetune_id)
                bar.update(job)
                if job.status in TERMINAL_STATUSES:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise _deadline_error(job, finetune_id)
                left = None if deadline is None else deadline - time.monotonic()
                await _retry.asleep(poll_interval if left is None
                                    else max(0.0, min(poll_interval, left)))
        if job.status != "succeeded":
            raise FinetuneFailedError(job)
        return job

    async def report(self, finetune_id: str, *, path: str | os.PathLike[str] | None = None
                     ) -> str | Path:
        """See `Finetunes.report`."""
        response = await self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/report", retry=True)
        if path is None:
            return response.text
        target = Path(path)
        target.write_text(response.text, encoding="utf-8")
        return target

    async def report_json(self, finetune_id: str) -> FinetuneReportPublic:
        """See `Finetunes.report_json`."""
        response = await self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/report.json", retry=True)
        return parse(FinetuneReportPublic, response)

    async def predictions(self, finetune_id: str, *,
                          path: str | os.PathLike[str] | None = None) -> pa.Table | Path:
        """See `Finetunes.predictions`."""
        response = await self._client._request(
            "GET", f"/v1/finetunes/{path_id(finetune_id)}/predictions", retry=True)
        if path is None:
            return table_from_bytes(response.content)
        target = Path(path)
        target.write_bytes(response.content)
        return target
