"""One input row to an `Example`, or the field and reason it cannot be probed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slick_curator.probing.columns import ColumnMap
from slick_curator.probing.records import Example
from slick_curator.probing.turns import BadTurns, canonical

__all__ = ["BadRow", "RowParser", "type_name"]


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class BadRow(Exception):
    """Why a row cannot be probed: the field at fault and a reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _csv_answers(cell: str) -> Any:
    """A CSV cell holding a JSON array is a list of aliases; any other cell is one answer."""
    if cell.lstrip().startswith("["):
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):  # too deep for the parser: text, like bad JSON
            return [cell]
        if isinstance(value, list):
            return value
    return [cell]


@dataclass(frozen=True)
class RowParser:
    """Parses rows of one dataset: QA or chat, with its column map and limits."""

    columns: ColumnMap
    kind: str
    names: list[str]
    default_group: str
    from_csv: bool
    max_chars: int | None

    def parse(self, row: int, record: dict) -> Example:
        c = self.columns
        context: tuple[tuple[str, str], ...] = ()
        if self.kind == "qa":
            question = self._text(record.get(c.question), c.question)
            if c.input is not None:  # Alpaca: the instruction, then its input
                extra = record.get(c.input)
                if extra is not None and not isinstance(extra, str):
                    raise BadRow(c.input, f"wrong type: expected string, got {type_name(extra)}")
                if extra and extra.strip():
                    question = self._text(f"{question}\n\n{extra.strip()}", c.input)
            answers = self._answers(record.get(c.answer), record.get(c.answers))
        else:
            question, answer, context = self._chat(record.get(c.messages))
            answers = (answer,)
        group = self._group(record.get(c.group)) if c.group else self.default_group
        raw_id = record.get(c.id)
        return Example(row, question, answers, group, None if raw_id is None else str(raw_id),
                       context)

    def _text(self, value: Any, field: str, where: str = "") -> str:
        if value is None:
            raise BadRow(field, f"{where}missing")
        if not isinstance(value, str):
            raise BadRow(field, f"{where}wrong type: expected string, got {type_name(value)}")
        text = value.strip()
        if not text:
            raise BadRow(field, f"{where}empty")
        if self.max_chars is not None and len(text) > self.max_chars:
            raise BadRow(field, f"{where}too long: {len(text)} characters, limit {self.max_chars}")
        return text

    def _answers(self, single: Any, many: Any) -> tuple[str, ...]:
        c = self.columns
        if self.from_csv:  # CSV has no nulls: an empty cell means "not given"
            single = single or None
            many = _csv_answers(many) if many else None
        if single is None and many is None:
            field = c.answer if c.answer in self.names else c.answers
            raise BadRow(field, f"missing: the row has neither {c.answer!r} nor {c.answers!r}")
        aliases = [] if single is None else [self._text(single, c.answer)]
        if many is not None:
            if not isinstance(many, list):
                raise BadRow(
                    c.answers, f"wrong type: expected list of strings, got {type_name(many)}"
                )
            if not many:
                raise BadRow(c.answers, "empty list")
            aliases += [self._text(v, c.answers, f"item {i}: ") for i, v in enumerate(many)]
        return tuple(dict.fromkeys(aliases))

    def _chat(self, messages: Any) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """(last user turn, final assistant turn, the turns before that user turn)."""
        field = self.columns.messages
        if messages is None:
            raise BadRow(field, "missing")
        if self.from_csv and isinstance(messages, str):
            try:
                messages = json.loads(messages)
            except ValueError as exc:
                raise BadRow(field, f"invalid JSON: {exc}") from exc
            except RecursionError as exc:
                raise BadRow(field, "invalid JSON: nested too deeply to parse") from exc
        if not isinstance(messages, list):
            raise BadRow(
                field, f"wrong type: expected a list of messages, got {type_name(messages)}"
            )
        try:
            turns = canonical(messages, self.columns.turns)
        except BadTurns as exc:
            raise BadRow(field, str(exc)) from exc
        if not turns or turns[-1]["role"] != "assistant":
            raise BadRow(field, "no final assistant turn")
        last_user = max((i for i, m in enumerate(turns[:-1]) if m["role"] == "user"), default=None)
        if last_user is None:
            raise BadRow(field, "no user turn before the final assistant turn")
        context = []
        for i, m in enumerate(turns[:last_user]):
            text = m["content"].strip()
            if self.max_chars is not None and len(text) > self.max_chars:
                raise BadRow(field, f"message {i}: too long: {len(text)} characters, limit "
                             f"{self.max_chars}")
            if text and m["role"] in ("system", "user", "assistant"):  # not e.g. tool turns
                context.append((m["role"], text))
        return (
            self._text(turns[last_user]["content"], field, "user turn: "),
            self._text(turns[-1]["content"], field, "assistant turn: "),
            tuple(context),
        )

    def _group(self, value: Any) -> str:
        text = None if value is None else str(value).strip()
        if not text:
            raise BadRow(self.columns.group, "missing" if value is None else "empty")
        return text
