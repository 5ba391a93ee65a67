"""Routes over a probe's result: the curated dataset, the report (HTML and JSON), row queries.

Thin: parameters in, the curation and report packages do the work, typed errors out. Row
queries take fixed filters bound as DuckDB parameters; user SQL never runs here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from slick_client.schemas import CurationParams, ReportPublic, RowsPublic
from starlette.background import BackgroundTask

from slick_curator.api.deps import Limit, Offset, Services, ServicesDep
from slick_curator.curation import (
    MEDIA_TYPES,
    AnnotatedError,
    AnnotatedFile,
    curate,
    export_format,
    write_export,
)
from slick_curator.curation.params import CurationParamsError, build_params, split_values
from slick_curator.curation.rows import FILTERS, RowQueryError, query_rows
from slick_curator.errors import (
    BadRequest,
    Conflict,
    DatasetInvalid,
    NotFound,
    ServiceError,
    error_responses,
    scrub_paths,
)
from slick_curator.report import CSP, build_report, render_html

router = APIRouter(prefix="/v1/probes", tags=["curation"])
log = logging.getLogger(__name__)

_POLICY_PARAMS = ("policy", "unknown", "min_p_greedy", "min_p_sample", "min_known_share",
                  "max_share", "cap", "min_per_group", "seed", "abstention")
_CURATED_PARAMS = frozenset({*_POLICY_PARAMS, "format", "drop_annotations", "all_rows"})
_REPORT_PARAMS = frozenset({*_POLICY_PARAMS, "examples"})
_ROWS_PARAMS = frozenset({*FILTERS, "columns", "limit", "offset"})


def _only(request: Request, allowed: frozenset[str]) -> None:
    """A typo in a query parameter is an error, not a silently ignored knob."""
    for name in request.query_params:
        if name not in allowed:
            raise BadRequest(f"unknown query parameter {name!r}; this route takes "
                             f"{', '.join(sorted(allowed))}", param=name)


def curation_params(
    policy: Annotated[str, Query(description="filter (drop unknown rows), relabel (answer "
                                             "them with the abstention), keep, or trim (drop "
                                             "the sentences of free-form answers whose facts "
                                             "are unknown).")] = "filter",
    unknown: Annotated[list[str] | None, Query(description="Categories that count as unknown "
                                                           "(repeat or comma-separate).")] = None,
    min_p_greedy: Annotated[float | None, Query(description="Known if P_greedy >= this.")]
    = None,
    min_p_sample: Annotated[float | None, Query(description="Known if P_sample >= this; null "
                                                            "P_sample uses the category.")]
    = None,
    min_known_share: Annotated[float | None, Query(description="Free-form rows: known if at "
                                                               "least this share of their "
                                                               "facts is known.")] = None,
    max_share: Annotated[float | None, Query(description="Most any category may make of the "
                                                         "output.")] = None,
    cap: Annotated[list[str] | None, Query(description="CATEGORY:SHARE, e.g. "
                                                       "HighlyKnown:0.5 (repeatable).")] = None,
    min_per_group: Annotated[int | None, Query(description="Keep at least N rows per group.")]
    = None,
    seed: Annotated[int | None, Query(description="Seed of the cap's row pick.")] = None,
    abstention: Annotated[str | None, Query(description="Answer of relabelled rows.")] = None,
) -> CurationParams:
    try:
        return build_params(policy=policy, unknown=unknown, min_p_greedy=min_p_greedy,
                            min_p_sample=min_p_sample, min_known_share=min_known_share,
                            max_share=max_share, cap=cap,
                            min_per_group=min_per_group, seed=seed, abstention=abstention)
    except CurationParamsError as exc:
        raise BadRequest(exc.message, param=exc.param) from exc


CurationDep = Annotated[CurationParams, Depends(curation_params)]


def _result(services: Services, probe_id: str) -> Path:
    record = services.store.probes.get(probe_id)
    if record is None:
        raise NotFound(f"no probe {probe_id!r}", param="probe_id")
    if record.status != "succeeded":
        raise Conflict(f"probe {probe_id} has no result yet ({record.status}); curation, "
                       "reports and rows are available once its status is 'succeeded'",
                       param="probe_id")
    path = services.store.paths.result(probe_id)
    if not path.is_file():
        raise ServiceError(f"the result file of probe {probe_id} is missing from the data dir")
    return path


def _annotated(services: Services, probe_id: str) -> AnnotatedFile:
    try:
        return AnnotatedFile.read(_result(services, probe_id))
    except AnnotatedError as exc:  # the server's own file: a 500, its path only in the log
        log.error("probe %s: unreadable result: %s", probe_id, exc)
        raise ServiceError(f"the result of probe {probe_id} is unreadable; see the server "
                           "log") from exc


@contextlib.contextmanager
def _serving(services: Services, probe_id: str, what: str) -> Iterator[None]:
    """Whatever the probed data makes fail while serving its result is a clean 400 naming the
    probe, never a 500 (uploads are validated so that this should not happen)."""
    try:
        yield
    except ServiceError:
        raise
    except Exception as exc:
        log.warning("probe %s: cannot serve %s", probe_id, what, exc_info=True)
        reason = scrub_paths(f"{type(exc).__name__}: {exc}", services.store.paths.root)
        raise DatasetInvalid(f"the result of probe {probe_id} cannot be served as {what}: "
                             f"{reason}", param="probe_id") from exc


@router.get("/{probe_id}/curated", response_class=FileResponse,
            responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                         for t in MEDIA_TYPES.values()},
                             "description": "The curated rows in the requested format."},
                       **error_responses(400, 401, 404, 409)})
def get_curated(
    probe_id: str, request: Request, services: ServicesDep, params: CurationDep,
    format: Annotated[str | None, Query(description="jsonl, json, csv or parquet; default: "
                                                    "the uploaded dataset's format.")] = None,
    drop_annotations: Annotated[bool, Query(description="Leave out the slick_ columns.")]
    = False,
    all_rows: Annotated[bool, Query(description="Every row, with slick_action and "
                                                "slick_reason (to review).")] = False,
) -> FileResponse:
    """The curated dataset under a policy, in the format the dataset was uploaded in."""
    _only(request, _CURATED_PARAMS)
    data = _annotated(services, probe_id)
    try:
        fmt = export_format(None, format, data.format)
    except ValueError as exc:
        raise BadRequest(str(exc), param="format") from exc
    staging = services.store.paths.staging
    fd, tmp = tempfile.mkstemp(dir=staging, prefix=f"{probe_id}.", suffix=f".{fmt}")
    os.close(fd)
    try:
        with _serving(services, probe_id, fmt):
            curated = curate(data, params)
            table = curated.output(all_rows=all_rows, drop_annotations=drop_annotations)
            write_export(table, tmp, fmt, gzipped=False,
                         messages_column=data.columns.messages if data.kind == "chat" else None)
    except BaseException:
        os.unlink(tmp)
        raise
    s = curated.summary
    headers = {"X-Slick-Format": fmt, "X-Slick-Rows": str(s.rows), "X-Slick-Kept": str(s.kept),
               "X-Slick-Dropped": str(s.dropped), "X-Slick-Relabelled": str(s.relabelled),
               "X-Slick-Trimmed": str(s.trimmed)}
    return FileResponse(tmp, media_type=MEDIA_TYPES[fmt], headers=headers,
                        filename=f"{probe_id}.curated.{fmt}",
                        background=BackgroundTask(os.unlink, tmp))


Examples = Annotated[int, Query(ge=0, le=50, description="Example rows per category.")]


@router.get("/{probe_id}/report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "One self-contained HTML page."},
                       **error_responses(400, 401, 404, 409)})
def get_report(probe_id: str, request: Request, services: ServicesDep, params: CurationDep,
               examples: Examples = 5) -> HTMLResponse:
    """The probe's report as one HTML page (inline CSS and SVG; opens offline)."""
    _only(request, _REPORT_PARAMS)
    data = _annotated(services, probe_id)
    with _serving(services, probe_id, "a report"):
        page = render_html(build_report(data, params, examples=examples, probe_id=probe_id))
    return HTMLResponse(page, headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})


@router.get("/{probe_id}/report.json", response_model=ReportPublic,
            responses=error_responses(400, 401, 404, 409))
def get_report_json(probe_id: str, request: Request, services: ServicesDep,
                    params: CurationDep, examples: Examples = 5) -> JSONResponse:
    """The numbers behind the report: categories, groups, histograms, policy effect, run."""
    _only(request, _REPORT_PARAMS)
    data = _annotated(services, probe_id)
    with _serving(services, probe_id, "a report"):  # serialised here, inside the guard
        report = build_report(data, params, examples=examples, probe_id=probe_id)
        return JSONResponse(report.model_dump(mode="json"))


@router.get("/{probe_id}/rows", response_model=RowsPublic,
            responses=error_responses(400, 401, 404, 409))
def get_rows(
    probe_id: str, request: Request, services: ServicesDep,
    category: Annotated[list[str] | None, Query(description="SliCK category (repeatable).")]
    = None,
    group: Annotated[list[str] | None, Query(description="Group (repeatable).")] = None,
    status: Annotated[list[str] | None, Query(description="probed, no_facts or skipped.")]
    = None,
    recommendation: Annotated[list[str] | None, Query(description="keep, drop or relabel.")]
    = None,
    columns: Annotated[list[str] | None, Query(description="Columns to return "
                                                           "(comma-separated; default all).")]
    = None,
    limit: Limit = 50, offset: Offset = 0,
) -> JSONResponse:
    """A page of annotated rows matching the filters, in input order, with the match count."""
    _only(request, _ROWS_PARAMS)
    path = _result(services, probe_id)
    try:
        pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:  # the server's own file: a 500, as for reports
        log.error("probe %s: unreadable result: %s", probe_id, exc)
        raise ServiceError(f"the result of probe {probe_id} is unreadable; see the server "
                           "log") from exc
    filters = {"category": split_values(category), "group": split_values(group),
               "status": split_values(status), "recommendation": split_values(recommendation)}
    with _serving(services, probe_id, "rows"):  # serialised here, inside the guard
        try:
            rows = query_rows(path, filters=filters, columns=split_values(columns) or None,
                              limit=limit, offset=offset)
        except RowQueryError as exc:
            raise BadRequest(exc.message, param=exc.param) from exc
        return JSONResponse(rows.model_dump(mode="json"))
