"""The unit the probing core works on: one question with its accepted answers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One probe-able row of a dataset.

    `row` is the 0-based position in the input file, so results and errors can always be tied
    back to the user's data; `answers` holds every accepted alias (the first is used when the
    row serves as a few-shot exemplar). `context` holds a chat row's turns before its final
    user turn, as (role, content) pairs: the system turn and earlier exchanges, which the probe
    puts before the question (never into the row's exemplar uses).
    """

    row: int
    question: str
    answers: tuple[str, ...]
    group: str = "all"
    id: str | None = None
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RowError:
    """Why one input row could not be probed: row number, offending field and a reason."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field!r}: {self.reason}"
