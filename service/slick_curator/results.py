"""Serving what finished jobs produced: readiness checks, artifact paths, curated exports,
reports and row pages. The routers only turn HTTP parameters into calls here and answers into
responses, as vLLM's routers sit in front of its `serving_*` modules; no FastAPI here.

Every "is it there yet" question is answered by `succeeded`: 404 for an unknown job, 409 (with
its state) for one that has not succeeded, 500 for a succeeded job whose file is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from slick_client.schemas import CurationParams, CurationSummary, ReportPublic, RowsPublic

from slick_curator.curation import (
    AnnotatedError,
    AnnotatedFile,
    curate,
    export_format,
    write_export,
)
from slick_curator.curation.rows import RowQueryError, query_rows
from slick_curator.errors import (
    BadRequest,
    Conflict,
    DatasetInvalid,
    NotFound,
    ServiceError,
    scrub_paths,
)
from slick_curator.reporting import build_report, render_html
from slick_curator.store import FinetuneRecord, ProbeRecord, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Export:
    """A curated export in a temp file the caller streams and then removes."""

    path: str
    format: str
    summary: CurationSummary


def succeeded(record: ProbeRecord | FinetuneRecord | None, job_id: str, *, noun: str,
              param: str, needs: str) -> Any:
    """`record` if its job succeeded; NotFound if there is none, Conflict naming its state
    (rows done for a running probe) and what `needs` it otherwise."""
    if record is None:
        raise NotFound(f"no {noun} {job_id!r}", param=param)
    if record.status != "succeeded":
        state = record.status
        if state == "running" and isinstance(record, ProbeRecord):
            state += f", {record.done} of {record.total} rows done"
        raise Conflict(f"{noun} {job_id} has no result yet ({state}); {needs} once its status "
                       "is 'succeeded'", param=param)
    return record


class Results:
    """The artifacts of succeeded probes and fine-tunes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def probe_result(self, probe_id: str, *, needs: str = "the result is available") -> Path:
        """The annotated Parquet of a succeeded probe."""
        succeeded(self.store.probes.get(probe_id), probe_id, noun="probe", param="probe_id",
                  needs=needs)
        path = self.store.paths.result(probe_id)
        if not path.is_file():
            raise ServiceError(f"the result file of probe {probe_id} is missing from the data dir")
        return path

    def annotated(self, probe_id: str) -> AnnotatedFile:
        try:
            return AnnotatedFile.read(self._served(probe_id))
        except AnnotatedError as exc:  # the server's own file: a 500, its path only in the log
            raise self._unreadable(probe_id, exc) from exc

    def curated(self, probe_id: str, params: CurationParams, *, format: str | None,
                all_rows: bool, drop_annotations: bool) -> Export:
        """The curated dataset written to a temp file in the staging folder."""
        data = self.annotated(probe_id)
        try:
            fmt = export_format(None, format, data.format)
        except ValueError as exc:
            raise BadRequest(str(exc), param="format") from exc
        fd, tmp = tempfile.mkstemp(dir=self.store.paths.staging, prefix=f"{probe_id}.",
                                   suffix=f".{fmt}")
        os.close(fd)
        try:
            with self._serving(probe_id, fmt):
                curated = curate(data, params)
                table = curated.output(all_rows=all_rows, drop_annotations=drop_annotations)
                write_export(table, tmp, fmt, gzipped=False,
                             messages_column=data.columns.messages if data.kind == "chat"
                             else None)
        except BaseException:
            os.unlink(tmp)
            raise
        return Export(tmp, fmt, curated.summary)

    def report(self, probe_id: str, params: CurationParams, *, examples: int) -> ReportPublic:
        data = self.annotated(probe_id)
        with self._serving(probe_id, "a report"):
            return build_report(data, params, examples=examples, probe_id=probe_id)

    def report_html(self, probe_id: str, params: CurationParams, *, examples: int) -> str:
        report = self.report(probe_id, params, examples=examples)
        with self._serving(probe_id, "a report"):
            return render_html(report)

    def report_json(self, probe_id: str, params: CurationParams, *, examples: int
                    ) -> dict[str, Any]:
        report = self.report(probe_id, params, examples=examples)
        with self._serving(probe_id, "a report"):
            return report.model_dump(mode="json")

    def rows(self, probe_id: str, *, filters: dict[str, list[str]], columns: list[str] | None,
             limit: int, offset: int) -> dict[str, Any]:
        """A page of annotated rows as JSON-ready data (serialised inside the guard)."""
        path = self._served(probe_id)
        try:
            pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise self._unreadable(probe_id, exc) from exc
        with self._serving(probe_id, "rows"):
            try:
                rows: RowsPublic = query_rows(path, filters=filters, columns=columns,
                                              limit=limit, offset=offset)
            except RowQueryError as exc:
                raise BadRequest(exc.message, param=exc.param) from exc
            return rows.model_dump(mode="json")

    def finetune_output(self, finetune_id: str, name: str) -> Path:
        """One output file (report, predictions) of a succeeded fine-tune."""
        succeeded(self.store.finetunes.get(finetune_id), finetune_id, noun="fine-tune",
                  param="finetune_id", needs="its reports and predictions are available")
        path = self.store.paths.finetune(finetune_id) / name
        if not path.is_file():
            raise ServiceError(f"{name} of fine-tune {finetune_id} is missing from the data dir")
        return path

    def _served(self, probe_id: str) -> Path:
        return self.probe_result(probe_id,
                                 needs="curation, reports and rows are available")

    @staticmethod
    def _unreadable(probe_id: str, exc: Exception) -> ServiceError:
        log.error("probe %s: unreadable result: %s", probe_id, exc)
        return ServiceError(f"the result of probe {probe_id} is unreadable; see the server log")

    @contextlib.contextmanager
    def _serving(self, probe_id: str, what: str) -> Iterator[None]:
        """Whatever the probed data makes fail while serving its result is a clean 400 naming
        the probe, never a 500 (uploads are validated so that this should not happen)."""
        try:
            yield
        except ServiceError:
            raise
        except Exception as exc:
            log.warning("probe %s: cannot serve %s", probe_id, what, exc_info=True)
            reason = scrub_paths(f"{type(exc).__name__}: {exc}", self.store.paths.root)
            raise DatasetInvalid(f"the result of probe {probe_id} cannot be served as {what}: "
                                 f"{reason}", param="probe_id") from exc
