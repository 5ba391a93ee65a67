"""Rows of a dataset without holding them as objects: a Parquet file of examples read a row
group at a time (`StoredExamples`, `StoredTable`) and a subset of another sequence by position
(`ExampleSubset`). Each is a `Sequence` whose slices are lists, so a probe's shard is read
when it is probed, and `take` fetches scattered rows (an exemplar set) reading each row group
once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.probing.records import Example

__all__ = ["ExampleSubset", "StoredExamples", "StoredTable", "take"]

_ITER_ROWS = 8192  # rows read at a time when iterating


def take(examples: Sequence[Example], positions: Sequence[int]) -> list[Example]:
    """`examples[p]` for each of `positions`, in one read where the sequence is stored."""
    if isinstance(examples, _Examples):
        return examples.take(positions)
    return [examples[p] for p in positions]


class _RowGroups:
    """A Parquet file read by row ranges, keeping the last row group read."""

    def __init__(self, path: Path, columns: list[str] | None = None) -> None:
        self.file = pq.ParquetFile(path)
        self.columns = columns
        sizes = [self.file.metadata.row_group(i).num_rows
                 for i in range(self.file.metadata.num_row_groups)]
        self.starts = [0, *np.cumsum(sizes).tolist()]
        self.rows = self.starts[-1]
        self._cached: tuple[int, pa.Table] | None = None

    def group(self, index: int) -> pa.Table:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self.file.read_row_group(index, columns=self.columns))
        return self._cached[1]

    def group_of(self, row: int) -> int:
        return bisect.bisect_right(self.starts, row) - 1

    def slice(self, start: int, stop: int) -> pa.Table:
        """Rows [start, stop) as one table."""
        parts = []
        while start < stop:
            index = self.group_of(start)
            first, end = self.starts[index], self.starts[index + 1]
            parts.append(self.group(index).slice(start - first, min(stop, end) - start))
            start = min(stop, end)
        if not parts:
            return self.file.schema_arrow.empty_table().select(self.columns or
                                                               self.file.schema_arrow.names)
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


class StoredTable:
    """The part of `pa.Table` a probe job's annotated file needs (`num_rows`, `slice`) over
    a Parquet file, read a row group at a time."""

    def __init__(self, path: Path) -> None:
        self._groups = _RowGroups(path)
        self.num_rows = self._groups.rows
        self.schema = self._groups.file.schema_arrow
        self.column_names = self.schema.names

    def slice(self, offset: int = 0, length: int | None = None) -> pa.Table:
        stop = self.num_rows if length is None else min(self.num_rows, offset + length)
        return self._groups.slice(offset, stop)


class _Examples(Sequence[Example]):
    """A sequence read through `take`: its slices are lists, read in one call."""

    def take(self, positions: Sequence[int]) -> list[Example]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Example: ...
    @overload
    def __getitem__(self, index: slice) -> list[Example]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.take(range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.take([index])[0]

    def __iter__(self) -> Iterator[Example]:
        for start in range(0, len(self), _ITER_ROWS):
            yield from self[start:start + _ITER_ROWS]


class StoredExamples(_Examples):
    """The examples of a parsed dataset (`parsed.EXAMPLES` rows), read when asked for."""

    def __init__(self, path: Path) -> None:
        self._groups = _RowGroups(path)

    def __len__(self) -> int:
        return self._groups.rows

    def take(self, positions: Sequence[int]) -> list[Example]:
        out: dict[int, Example] = {}
        by_group: dict[int, list[int]] = {}
        for position in positions:
            by_group.setdefault(self._groups.group_of(position), []).append(position)
        for index, wanted in sorted(by_group.items()):
            table = self._groups.group(index)
            first = self._groups.starts[index]
            rows = _examples(table.take([p - first for p in wanted]))
            out.update(zip(wanted, rows, strict=True))
        return [out[p] for p in positions]


class ExampleSubset(_Examples):
    """The rows of `examples` at `positions` (ascending), as a sequence of their own."""

    def __init__(self, examples: Sequence[Example], positions: np.ndarray) -> None:
        self._examples = examples
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    def take(self, positions: Sequence[int]) -> list[Example]:
        return take(self._examples, self._positions[list(positions)].tolist())


def _examples(table: pa.Table) -> list[Example]:
    return [Example(e["row"], e["question"], tuple(e["answers"]), e["group"], e["id"],
                    tuple((t["role"], t["content"]) for t in e["context"]))
            for e in table.to_pylist()]
