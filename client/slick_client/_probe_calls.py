"""The requests of `client.probes` as `Call`s and plans, built and read once for the sync and
async resources (`Probes`, `AsyncProbes`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slick_client._base import parse, path_id, probe_payload
from slick_client._calls import Call, Download, Plan
from slick_client._curation import CuratedFile, curated_query, report_query, rows_query
from slick_client._parquet import table_from_bytes
from slick_client._transfer import fetch_plan
from slick_client.schemas import ProbePublic, ProbesPublic, ReportPublic, RowsPublic

if TYPE_CHECKING:
    import pyarrow as pa


def probe_path(probe_id: str, suffix: str = "") -> str:
    return f"/v1/probes/{path_id(probe_id)}{suffix}"


def list_params(limit: int | None, offset: int | None, status: str | None) -> dict[str, Any]:
    params = {"limit": limit, "offset": offset, "status": status}
    return {k: v for k, v in params.items() if v is not None}


def create_call(dataset_id: str, *, exemplar_dataset_id: str | None, model: str | None,
                engine: str | None, params: dict[str, Any]) -> Call[ProbePublic]:
    """Validated here first (InvalidParamsError, nothing sent); never retried."""
    payload = probe_payload(dataset_id, exemplar_dataset_id=exemplar_dataset_id, model=model,
                            engine=engine, params=params)
    return Call("POST", "/v1/probes", retry=False, json=payload,
                parse=functools.partial(parse, ProbePublic))


def get_call(probe_id: str) -> Call[ProbePublic]:
    return Call("GET", probe_path(probe_id), retry=True,
                parse=functools.partial(parse, ProbePublic))


def list_call(limit: int | None, offset: int | None, status: str | None) -> Call[ProbesPublic]:
    return Call("GET", "/v1/probes", retry=True, params=list_params(limit, offset, status),
                parse=functools.partial(parse, ProbesPublic))


def cancel_call(probe_id: str) -> Call[ProbePublic]:
    return Call("POST", probe_path(probe_id, "/cancel"), retry=False,
                parse=functools.partial(parse, ProbePublic))


def result_plan(probe_id: str, path: str | os.PathLike[str] | None) -> Plan[pa.Table | Path]:
    """The annotated rows as a table, or streamed to `path`."""
    return fetch_plan(probe_path(probe_id, "/result"), {}, path,
                      lambda response: table_from_bytes(response.content))


def curated_plan(probe_id: str, path: str | os.PathLike[str] | None, *, policy: str,
                 format: str | None, drop_annotations: bool, all_rows: bool,
                 knobs: dict[str, Any]) -> Plan[CuratedFile]:
    """The curated file in memory, or streamed to `path`; knobs validated before sending."""
    query = curated_query(policy, format, drop_annotations, all_rows, knobs)
    if path is None:
        return (yield Call("GET", probe_path(probe_id, "/curated"), retry=True, params=query,
                           parse=lambda response: CuratedFile.from_response(
                               response, content=response.content)))
    response = yield Download(probe_path(probe_id, "/curated"), query, Path(path))
    return CuratedFile.from_response(response, path=Path(path))


def report_plan(probe_id: str, path: str | os.PathLike[str] | None, *, policy: str | None,
                examples: int | None, knobs: dict[str, Any]) -> Plan[str | Path]:
    """The HTML report as text, or streamed to `path`."""
    query = report_query(policy, examples, knobs)
    return fetch_plan(probe_path(probe_id, "/report"), query, path,
                      lambda response: response.text)


def report_json_call(probe_id: str, policy: str | None, examples: int | None,
                     knobs: dict[str, Any]) -> Call[ReportPublic]:
    return Call("GET", probe_path(probe_id, "/report.json"), retry=True,
                params=report_query(policy, examples, knobs),
                parse=functools.partial(parse, ReportPublic))


def rows_call(probe_id: str, *, category: str | Sequence[str] | None,
              group: str | Sequence[str] | None, status: str | Sequence[str] | None,
              columns: Sequence[str] | None, limit: int, offset: int) -> Call[RowsPublic]:
    query = rows_query(category=category, group=group, status=status, columns=columns,
                       limit=limit, offset=offset)
    return Call("GET", probe_path(probe_id, "/rows"), retry=True, params=query,
                parse=functools.partial(parse, RowsPublic))

