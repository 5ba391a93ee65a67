"""Errors of the dataset reader: a file unreadable as a whole, bad rows, limits exceeded."""

from __future__ import annotations

from slick_curator.probing.records import RowError

__all__ = ["DatasetError", "DatasetTooLarge", "file_error", "rows_error"]

_SHOWN_ERRORS = 5


class DatasetError(ValueError):
    """The file is unreadable as a whole, or (with ``on_error="fail"``) has bad rows.

    `errors` lists every bad row; whole-file problems carry one error with row -1.
    """

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class DatasetTooLarge(DatasetError):
    """The file holds more than a limit allows: `what` is "rows" or "bytes", `limit` the limit."""

    def __init__(self, message: str, *, what: str, limit: int) -> None:
        super().__init__(message, [RowError(-1, "<file>", message)])
        self.what, self.limit = what, limit


def rows_error(errors: list[RowError], name: str | None, total: int | None = None
               ) -> DatasetError:
    """`errors` (the first of `total`, when only those were kept) as one DatasetError."""
    total = len(errors) if total is None else total
    shown = "; ".join(str(e) for e in errors[:_SHOWN_ERRORS])
    more = total - _SHOWN_ERRORS
    tail = f"; and {more} more" if more > 0 else ""
    return DatasetError(f"{total} bad row(s) in {name or 'dataset'}: {shown}{tail}", errors)


def file_error(name: str | None, reason: str, field: str = "<file>") -> DatasetError:
    return DatasetError(f"{name}: {reason}" if name else reason, [RowError(-1, field, reason)])


def too_large(name: str | None, what: str, limit: int, reason: str) -> DatasetTooLarge:
    return DatasetTooLarge(f"{name}: {reason}" if name else reason, what=what, limit=limit)
