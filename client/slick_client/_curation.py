"""What `probes.curated`, `report`, `report_json` and `rows` share between the sync and async
clients: query strings built from validated parameters, and the curated file's wrapper."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slick_client._errors import InvalidParamsError
from slick_client._parquet import table_from_bytes
from slick_client.schemas import EXPORT_FORMATS, CurationParams

if TYPE_CHECKING:
    import httpx
    import pyarrow as pa

__all__ = ["CuratedFile", "curated_query", "curation_query", "report_query", "rows_query"]


def curation_query(policy: str | None, knobs: dict[str, Any]) -> dict[str, Any]:
    """The query string of a policy, validated with the shared schema before sending.

    Only what the caller set is sent, so the server's defaults apply to the rest. A bad or
    unknown knob raises InvalidParamsError naming it.
    """
    fields = dict(knobs)
    if policy is not None:
        fields["policy"] = policy
    try:
        params = CurationParams(**fields)
    except ValidationError as exc:
        raise InvalidParamsError.from_validation_error(
            exc, known=list(CurationParams.model_fields)) from None
    query: dict[str, Any] = {}
    for name, value in params.model_dump(mode="json", exclude_unset=True).items():
        if name == "unknown":
            query["unknown"] = list(value)
        elif name == "caps":
            query["cap"] = [f"{k}:{v}" for k, v in value.items()]
        elif value is not None:
            query[name] = str(value)
    return query


def curated_query(policy: str | None, format: str | None, drop_annotations: bool,
                  all_rows: bool, knobs: dict[str, Any]) -> dict[str, Any]:
    if format is not None and format not in EXPORT_FORMATS:
        raise InvalidParamsError(f"expected one of {', '.join(EXPORT_FORMATS)}, got {format!r}",
                                 param="format")
    query = curation_query(policy, knobs)
    if format is not None:
        query["format"] = format
    if drop_annotations:
        query["drop_annotations"] = "true"
    if all_rows:
        query["all_rows"] = "true"
    return query


def report_query(policy: str | None, examples: int | None,
                 knobs: dict[str, Any]) -> dict[str, Any]:
    query = curation_query(policy, knobs)
    if examples is not None:
        query["examples"] = str(examples)
    return query


def _values(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def rows_query(*, category: Any, group: Any, status: Any, columns: Any, limit: int,
               offset: int) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name, value in (("category", category), ("group", group), ("status", status)):
        if _values(value):
            query[name] = _values(value)
    if columns:
        query["columns"] = ",".join(_values(columns))
    return {**query, "limit": str(limit), "offset": str(offset)}


@dataclass(frozen=True)
class CuratedFile:
    """A curated dataset from `probes.curated`: in memory (`content`) or on disk (`path`).

    `format` is "jsonl", "json", "csv" or "parquet"; `rows` = `kept` + `dropped` +
    `relabelled` + `trimmed` are the policy's counts over the annotated rows.
    """

    format: str
    rows: int
    kept: int
    dropped: int
    relabelled: int
    trimmed: int = 0
    content: bytes | None = None
    path: Path | None = None

    @classmethod
    def from_response(cls, response: httpx.Response, *, content: bytes | None = None,
                      path: Path | None = None) -> CuratedFile:
        h = response.headers

        def count(name: str) -> int:
            return int(h.get(f"x-slick-{name}", "0"))

        return cls(format=h.get("x-slick-format", "jsonl"), rows=count("rows"),
                   kept=count("kept"), dropped=count("dropped"),
                   relabelled=count("relabelled"), trimmed=count("trimmed"),
                   content=content, path=path)

    def data(self) -> bytes:
        """The file's bytes (read from `path` when it was saved to disk)."""
        if self.content is not None:
            return self.content
        assert self.path is not None
        return self.path.read_bytes()

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (CSV cells stay text, as in the file)."""
        raw = self.data()
        if self.format == "parquet":
            return self.table().to_pylist()
        if self.format == "csv":
            return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
        if self.format == "json":
            return list(json.loads(raw))
        return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]

    def table(self) -> pa.Table:
        """The rows as a pyarrow Table (Parquet exactly; other formats via their records)."""
        import pyarrow as pa

        if self.format == "parquet":
            return table_from_bytes(self.data())
        return pa.Table.from_pylist(self.records())

    def dataset(self) -> Any:
        """The rows as a Hugging Face `datasets.Dataset` (needs the `datasets` package)."""
        try:
            import datasets
        except ImportError as exc:
            raise ImportError("CuratedFile.dataset() needs the datasets package: pip install "
                              "datasets") from exc
        return datasets.Dataset(self.table())
