"""Which input columns hold the question, the golds, the messages, the id and the group."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ColumnMap"]


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold what.

    `answer` holds one gold string, `answers` a list of aliases (all accepted as correct); a row
    may use either or both. `messages` is only read when the question column is absent. `group`
    names a grouping column; None means: the "relation" column if present, else the
    EntityQuestions relation from a file name like ``P36.test.json``, else one group "all".
    """

    question: str = "question"
    answer: str = "answer"
    answers: str = "answers"
    messages: str = "messages"
    id: str = "id"
    group: str | None = None
