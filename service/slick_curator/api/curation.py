"""Routes over a probe's result: the curated dataset, the report (HTML and JSON), row queries.

Thin: query parameters in, `results.Results` does the work, typed errors out. Row queries
take fixed filters bound as DuckDB parameters; user SQL never runs.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from slick_client.schemas import CurationParams, ReportPublic, RowsPublic
from starlette.background import BackgroundTask

from slick_curator.api.deps import Limit, Offset, ServicesDep
from slick_curator.curation import MEDIA_TYPES
from slick_curator.curation.params import CurationParamsError, build_params, split_values
from slick_curator.curation.rows import FILTERS
from slick_curator.errors import BadRequest, error_responses
from slick_curator.reporting import CSP

router = APIRouter(prefix="/v1/probes", tags=["curation"])

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
    export = services.results.curated(probe_id, params, format=format, all_rows=all_rows,
                                      drop_annotations=drop_annotations)
    s = export.summary
    headers = {"X-Slick-Format": export.format, "X-Slick-Rows": str(s.rows),
               "X-Slick-Kept": str(s.kept), "X-Slick-Dropped": str(s.dropped),
               "X-Slick-Relabelled": str(s.relabelled), "X-Slick-Trimmed": str(s.trimmed)}
    return FileResponse(export.path, media_type=MEDIA_TYPES[export.format], headers=headers,
                        filename=f"{probe_id}.curated.{export.format}",
                        background=BackgroundTask(os.unlink, export.path))


Examples = Annotated[int, Query(ge=0, le=50, description="Example rows per category.")]


@router.get("/{probe_id}/report", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                             "description": "One self-contained HTML page."},
                       **error_responses(400, 401, 404, 409)})
def get_report(probe_id: str, request: Request, services: ServicesDep, params: CurationDep,
               examples: Examples = 5) -> HTMLResponse:
    """The probe's report as one HTML page (inline CSS and SVG; opens offline)."""
    _only(request, _REPORT_PARAMS)
    page = services.results.report_html(probe_id, params, examples=examples)
    return HTMLResponse(page, headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})


@router.get("/{probe_id}/report.json", response_model=ReportPublic,
            responses=error_responses(400, 401, 404, 409))
def get_report_json(probe_id: str, request: Request, services: ServicesDep,
                    params: CurationDep, examples: Examples = 5) -> JSONResponse:
    """The numbers behind the report: categories, groups, histograms, policy effect, run."""
    _only(request, _REPORT_PARAMS)
    return JSONResponse(services.results.report_json(probe_id, params, examples=examples))


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
    filters = {"category": split_values(category), "group": split_values(group),
               "status": split_values(status), "recommendation": split_values(recommendation)}
    return JSONResponse(services.results.rows(probe_id, filters=filters,
                                              columns=split_values(columns) or None,
                                              limit=limit, offset=offset))
