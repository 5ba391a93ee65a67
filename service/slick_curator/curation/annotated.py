"""An annotated Parquet file opened for curation and reports: the table, its run metadata, the
input's format and kind, and which columns hold the question and the answer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.probing.reading import ColumnMap
from slick_curator.probing.schema import METADATA_KEY
from slick_curator.probing.turns import BadTurns, canonical

__all__ = ["AnnotatedError", "AnnotatedFile", "question_and_gold"]

REQUIRED = ("slick_category", "slick_status", "slick_p_greedy", "slick_group")


class AnnotatedError(ValueError):
    """The file is not an annotated slick-curator result (or lacks a column curation needs)."""


@dataclass
class AnnotatedFile:
    """An annotated table with what curation needs to know about the input it came from.

    `format` ("jsonl", "json", "csv", "parquet") and `kind` ("qa", "chat") are the input's,
    from the file metadata; `columns` is the column map the probe read the input with.
    """

    table: pa.Table
    metadata: dict[str, Any]
    format: str
    kind: str
    columns: ColumnMap

    @classmethod
    def read(cls, path: str | os.PathLike, *, columns: dict[str, str | None] | None = None
             ) -> AnnotatedFile:
        """Open an annotated Parquet file; `columns` overrides parts of the recorded map."""
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise AnnotatedError(f"{os.fspath(path)}: not a readable Parquet file ({exc})") from exc
        return cls.from_table(table, columns=columns, name=os.fspath(path))

    @classmethod
    def from_table(cls, table: pa.Table, *, columns: dict[str, str | None] | None = None,
                   name: str = "table") -> AnnotatedFile:
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        if raw is None:
            raise AnnotatedError(f"{name} is not an annotated slick-curator file (no 'slick' "
                                 "metadata); run `slick probe` on the dataset first")
        missing = [c for c in REQUIRED if c not in table.column_names]
        if missing:
            raise AnnotatedError(f"{name} lacks the column(s) {', '.join(missing)}")
        metadata = json.loads(raw)
        dataset = metadata.get("dataset") or {}
        recorded = dict(metadata.get("columns") or {})
        if "group" not in recorded and dataset.get("group_column"):
            recorded["group"] = dataset["group_column"]
        known = {f.name for f in fields(ColumnMap)}
        recorded.update({k: v for k, v in (columns or {}).items() if v is not None})
        column_map = ColumnMap(**{k: v for k, v in recorded.items() if k in known})
        kind = dataset.get("kind") or ("qa" if column_map.question in table.column_names
                                       else "chat")
        return cls(table, metadata, dataset.get("format") or "parquet", kind, column_map)

    @property
    def source(self) -> str | None:
        return self.metadata.get("source")


def _json_list(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def question_and_gold(record: dict[str, Any], kind: str,
                      columns: ColumnMap) -> tuple[str | None, list[str]]:
    """The question and gold answers of one row, read leniently (for display only)."""
    if kind == "chat":
        messages = _json_list(record.get(columns.messages))
        if not isinstance(messages, list) or not messages:
            return None, []
        try:
            turns = canonical(messages, columns.turns)
        except BadTurns:
            return None, []
        gold = [turns[-1]["content"]] if turns[-1]["role"] == "assistant" else []
        users = [m for m in turns[:-1] if m["role"] == "user"]
        return (users[-1]["content"] if users else None), gold
    question = record.get(columns.question)
    gold: list[str] = []
    single = record.get(columns.answer)
    if single not in (None, ""):
        gold.append(str(single))
    many = _json_list(record.get(columns.answers))
    if isinstance(many, list):
        gold += [str(v) for v in many if v is not None]
    elif many not in (None, ""):
        gold.append(str(many))
    return (None if question is None else str(question)), list(dict.fromkeys(gold))
