"""Relabelling: a row keeps its question and gets the abstention phrase as its answer.

QA rows: the answer column becomes the phrase and the aliases column a one-item list (or its
JSON text, where the column holds text, as in CSV). Chat rows (OpenAI or ShareGPT turns): the
final assistant turn's text becomes the phrase; every other turn and field stays as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from slick_curator.probing.reading import ColumnMap
from slick_curator.probing.turns import with_final_content

__all__ = ["relabel_rows"]


def relabel_rows(table: pa.Table, rows: Sequence[int], phrase: str, *, kind: str,
                 columns: ColumnMap) -> pa.Table:
    """`table` with the answers of `rows` (0-based) replaced by `phrase`; types unchanged."""
    if not rows:
        return table
    if kind == "chat":
        return _replace(table, columns.messages, rows, lambda v: _chat(v, phrase, columns.turns))
    table = _replace(table, columns.answer, rows, lambda v: phrase)
    return _replace(table, columns.answers, rows, lambda v: _aliases(v, phrase))


def _replace(table: pa.Table, name: str, rows: Sequence[int], change) -> pa.Table:
    if name not in table.column_names:
        return table
    index = table.column_names.index(name)
    column = table.column(index)
    values = column.to_pylist()
    for row in rows:
        values[row] = change(values[row])
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = [v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                  for v in values]
    dtype = pa.string() if pa.types.is_null(column.type) else column.type
    array = pa.array(values, type=dtype)
    return table.set_column(index, table.schema.field(index).with_type(dtype), array)


def _aliases(value: Any, phrase: str) -> Any:
    if isinstance(value, str):  # aliases as text: a JSON list (CSV) or one alias
        return json.dumps([phrase], ensure_ascii=False) if value.lstrip().startswith("[") \
            else phrase
    return [phrase]


def _chat(value: Any, phrase: str, style: str) -> Any:
    as_text = isinstance(value, str)
    turns = json.loads(value) if as_text else value
    if not isinstance(turns, list) or not turns or not isinstance(turns[-1], dict):
        return value  # never reached for probed rows: reading checked the shape
    turns = with_final_content(turns, style, phrase)
    return json.dumps(turns, ensure_ascii=False) if as_text else turns
