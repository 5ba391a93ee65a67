"""The answer a probe read from each row, and new answers written back in the row's own shape.

The probe reads (and strips) the final assistant turn of a chat row (OpenAI or ShareGPT
turns), and the `answer` column of a QA row, or the first item of its `answers` column when
`answer` is empty; fact offsets index that stripped text. A new answer replaces exactly that value: the final assistant
turn's content, the answer cell, or the first alias. Other turns, aliases and fields stay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from slick_curator.curation.annotated import AnnotatedFile, _json_list
from slick_curator.probing.reading import ColumnMap
from slick_curator.probing.turns import final_content, with_final_content

__all__ = ["probed_answers", "replace_answers"]


def probed_answers(annotated: AnnotatedFile) -> list[str | None]:
    """Each row's answer as the probe read it (stripped); None where the row has none."""
    c, kind = annotated.columns, annotated.kind
    names = [c.messages] if kind == "chat" else [c.answer, c.answers]
    present = [n for n in names if n in annotated.table.column_names]
    records = annotated.table.select(present).to_pylist()
    if kind == "chat":
        return [final_content(_json_list(r.get(c.messages)), c.turns) for r in records]
    return [_qa_answer(r.get(c.answer), r.get(c.answers)) for r in records]


def _qa_answer(single: Any, many: Any) -> str | None:
    if isinstance(single, str) and single.strip():
        return single.strip()
    many = _json_list(many)
    if isinstance(many, list) and many and isinstance(many[0], str):
        return many[0].strip()
    return None


def replace_answers(table: pa.Table, answers: Mapping[int, str], *, kind: str,
                    columns: ColumnMap) -> pa.Table:
    """`table` with the probed answer of each row in `answers` (0-based) replaced."""
    if not answers:
        return table
    if kind == "chat":
        return _update(table, columns.messages, answers,
                       lambda value, text: _chat_with(value, text, columns.turns))
    single = (table.column(columns.answer).to_pylist() if columns.answer in table.column_names
              else [None] * table.num_rows)
    in_single = {r: a for r, a in answers.items()
                 if isinstance(single[r], str) and single[r].strip()}
    table = _update(table, columns.answer, in_single, lambda value, text: text)
    rest = {r: a for r, a in answers.items() if r not in in_single}
    return _update(table, columns.answers, rest, _first_alias_with)


def _update(table: pa.Table, name: str, answers: Mapping[int, str], change) -> pa.Table:
    if not answers or name not in table.column_names:
        return table
    index = table.column_names.index(name)
    column = table.column(index)
    values = column.to_pylist()
    for row, text in answers.items():
        values[row] = change(values[row], text)
    return table.set_column(index, table.schema.field(index),
                            pa.array(values, type=column.type))


def _chat_with(value: Any, text: str, style: str) -> Any:
    as_text = isinstance(value, str)
    turns = with_final_content(json.loads(value) if as_text else value, style, text)
    return json.dumps(turns, ensure_ascii=False) if as_text else turns


def _first_alias_with(value: Any, text: str) -> Any:
    if isinstance(value, str):  # aliases as JSON text (CSV)
        return json.dumps([text, *json.loads(value)[1:]], ensure_ascii=False)
    return [text, *list(value)[1:]]
