"""Which input columns hold the question, the golds, the messages, the id and the group."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ColumnMap", "row_shape"]


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold what.

    `answer` holds one gold string, `answers` a list of aliases (all accepted as correct); a row
    may use either or both. `messages` is only read when the question column is absent. `group`
    names a grouping column; None means: the "relation" column if present, else the
    EntityQuestions relation from a file name like ``P36.test.json``, else one group "all".
    `input` (Alpaca rows) names a column whose text, when present, is appended to the question
    after a blank line. `turns` is the shape of the messages' turns: "openai" ({role, content})
    or "sharegpt" ({from, value}); see probing.turns.
    """

    question: str = "question"
    answer: str = "answer"
    answers: str = "answers"
    messages: str = "messages"
    id: str = "id"
    group: str | None = None
    input: str | None = None
    turns: str = "openai"


def row_shape(kind: str, columns: ColumnMap) -> str:
    """What users call the rows: "qa", "alpaca", "chat" (OpenAI messages) or "sharegpt"."""
    if kind == "chat":
        return "sharegpt" if columns.turns == "sharegpt" else "chat"
    if columns.input is not None or (columns.question, columns.answer) == ("instruction", "output"):
        return "alpaca"
    return "qa"
