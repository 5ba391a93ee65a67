"""What a dataset may hold: decoded bytes, rows, columns and nesting depth.

The service sets these from its settings so that nothing a client sends can make a later
step (Parquet, DuckDB, the exports) fail; the CLI reads with the structural limits only.
Depth counts containers: a string is 0 deep, ``{"a": "x"}`` 1, ``[{"a": ["x"]}]`` 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

__all__ = [
    "MAX_DEPTH",
    "ReadLimits",
    "bad_name",
    "bad_value",
    "is_text",
    "name_problems",
    "type_depth",
]

# Parquet readers stop at 100 schema levels; a list takes two or three, so 32 always fits.
MAX_DEPTH = 32


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on one dataset; None means unbounded.

    `max_bytes` bounds the decoded data (every gzip layer, and the uncompressed size of a
    Parquet file), `max_rows` the input rows, `max_columns` the columns, `max_depth` how deeply
    any value may nest (at most MAX_DEPTH: deeper data cannot round-trip through Parquet).
    """

    max_bytes: int | None = None
    max_rows: int | None = None
    max_columns: int | None = None
    max_depth: int = MAX_DEPTH

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_rows", "max_columns"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if not 1 <= self.max_depth <= MAX_DEPTH:
            raise ValueError(f"max_depth must be between 1 and {MAX_DEPTH}, got {self.max_depth}")


def is_text(value: str) -> bool:
    """False for strings Arrow cannot store: lone surrogates (JSON "\\ud800", bad CSV bytes)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bad_name(name: str) -> str | None:
    """Why `name` cannot be a column name, or None."""
    if not name:
        return "a column has an empty name"
    if not is_text(name):
        return f"column name {name.encode('utf-8', 'replace').decode()!r} is not valid UTF-8"
    return None


def bad_value(value: Any, max_depth: int) -> str | None:
    """Why one JSON-decoded value cannot be stored, or None: too deep, or not valid text."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_text(item):
                return "not valid UTF-8 (a lone surrogate)"
            continue
        if isinstance(item, dict):
            children: Sequence[Any] = list(item.values())
            for key in item:
                if not is_text(key):
                    return "a key is not valid UTF-8 (a lone surrogate)"
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            return f"nested more than {max_depth} levels deep (the limit)"
        stack.extend((child, depth + 1) for child in children)
    return None


def type_depth(dtype: pa.DataType) -> int:
    """How many container levels an Arrow type has (lists, structs, maps, unions)."""
    if dtype.num_fields == 0:
        return 0
    return 1 + max(type_depth(dtype.field(i).type) for i in range(dtype.num_fields))


def name_problems(names: Sequence[str], limits: ReadLimits) -> tuple[str, str] | None:
    """(field, reason) for the first problem with a file's column names, or None.

    Names must be unique (a duplicate would be ambiguous in every later step), non-empty,
    valid text, and no more than `max_columns`.
    """
    if limits.max_columns is not None and len(names) > limits.max_columns:
        return "<columns>", (f"{len(names)} columns, more than the limit of {limits.max_columns}")
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    for name, count in seen.items():
        problem = bad_name(name)
        if problem:
            return name or "<columns>", problem
        if count > 1:
            return name, (f"column {name!r} appears {count} times; column names must be unique")
    return None
