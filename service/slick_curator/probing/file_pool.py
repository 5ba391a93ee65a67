"""The exemplar pool of a whole file when only its head is probed (`slick probe --limit`).

A limit never changes a row's prompts, so the pool is every valid row of the file. As
`Example`s a million rows are gigabytes, and parsing them one after the other took longer than
loading the model; the pool needs only their `RowIndex` (group, answer kind, question digest).
`PoolScan` builds it in worker processes while the caller loads the model: each worker parses
every n-th row of the JSONL (splitting lines is cheap, decoding them is not) and the parts merge
into the index one pass gives, positions being row numbers. The few rows the exemplar sets use
are decoded again from the file when fetched. A small file, and any other format (columnar
files read fast), is read in the calling process.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from slick_curator.probing.byte_source import ByteSource
from slick_curator.probing.example_store import take
from slick_curator.probing.read_errors import DatasetError
from slick_curator.probing.read_json import decode_line, jsonl_lines
from slick_curator.probing.read_limits import ReadLimits
from slick_curator.probing.reading import Dataset, default_group, read_dataset
from slick_curator.probing.records import Example
from slick_curator.probing.row_index import IndexedRows, RowIndex
from slick_curator.probing.row_parser import BadRow, RowParser

__all__ = ["IN_PROCESS_BYTES", "PoolScan", "read_examples"]

# Below this a file is indexed in the calling process: starting a worker (its imports) costs
# about a second, what parsing 40,000 rows does.
IN_PROCESS_BYTES = 4 << 20
_CTX = mp.get_context("spawn")  # never fork a process with threads (and maybe torch)
Keep = Callable[[Example], bool]


@dataclass(frozen=True)
class _Rows:
    """How to read the valid rows of a JSONL as the probed head was read."""

    path: str
    name: str
    parser: RowParser

    def examples(self, wanted: Callable[[int], bool]) -> Iterator[Example]:
        """The valid rows whose row numbers are `wanted` (only those lines are decoded)."""
        max_depth = ReadLimits().max_depth
        for row, line in enumerate(jsonl_lines(ByteSource(path=self.path, name=self.name))):
            if wanted(row):
                record, _ = decode_line(line, max_depth)
                if record is not None:
                    try:
                        yield self.parser.parse(row, record)
                    except BadRow:
                        pass

    @classmethod
    def like(cls, path: Path, head: Dataset, name: str) -> _Rows:
        """The rows of the JSONL at `path`, parsed as `head` (its first rows) was."""
        parser = RowParser(head.columns, head.kind, head.table.column_names,
                           default_group(name), from_csv=False, max_chars=None)
        return cls(os.fspath(path), name, parser)

    def fetch(self, rows: Sequence[int]) -> list[Example]:
        """The rows numbered `rows`, in that order (one pass over the file)."""
        wanted = set(rows)
        found = {e.row: e for e in self.examples(wanted.__contains__)}
        return [found[row] for row in rows]


def _index_part(rows: _Rows, part: int, parts: int, override: str, keep: Keep | None
                ) -> RowIndex | str:
    """The index of every `parts`-th valid row from `part` on (a worker's share), or the
    message of the error that stopped it (plain data, to cross the process boundary)."""
    try:
        return RowIndex.build(rows.examples(lambda row: row % parts == part),
                              override=override, keep=keep, at_rows=True)
    except DatasetError as exc:
        return str(exc)


def _parts(results: list[RowIndex | str]) -> list[RowIndex]:
    for result in results:
        if isinstance(result, str):
            raise DatasetError(result)
    return results  # type: ignore[return-value]


class PoolScan:
    """The pool of `path` (every valid row, read as `like` was), indexed in worker processes
    from entering the context on; `result()` waits for it, and leaving the context stops
    workers still running."""

    def __init__(self, path: Path, *, like: Dataset, override: str, keep: Keep | None,
                 name: str | None = None, workers: int | None = None,
                 in_process_bytes: int = IN_PROCESS_BYTES) -> None:
        self.path, self.like, self.name = path, like, name or os.fspath(path)
        self.override, self.keep = override, keep
        self.workers = workers or min(_cores(), 8)
        self.in_process_bytes = in_process_bytes
        self._pool = None
        self._pending: list = []
        self._rows: _Rows | None = None
        if like.format == "jsonl" and path.stat().st_size >= in_process_bytes:
            self._rows = _Rows.like(path, like, self.name)

    def __enter__(self) -> PoolScan:
        if self._rows is not None:
            self._pool = _CTX.Pool(self.workers)
            self._pending = [
                self._pool.apply_async(_index_part, (self._rows, part, self.workers,
                                                     self.override, self.keep))
                for part in range(self.workers)]
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def result(self) -> IndexedRows:
        """The pool's index and how to fetch its rows; raises DatasetError."""
        if self._rows is None:
            examples = read_examples(self.path, like=self.like, name=self.name)
            return IndexedRows(RowIndex.build(examples, override=self.override, keep=self.keep),
                               functools.partial(take, examples))
        index = RowIndex.merge(_parts([pending.get() for pending in self._pending]))
        return IndexedRows(index, self._rows.fetch)


def _cores() -> int:
    """The cores this process may run on (all of them where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def read_examples(source: Path, *, like: Dataset, name: str | None = None) -> list[Example]:
    """The valid rows of a whole file read as `like` (its head, read with a limit) was."""
    name = name or os.fspath(source)
    if like.format != "jsonl":
        return read_dataset(source, format=like.format, columns=like.columns,
                            on_error="skip", name=name).examples
    return list(_Rows.like(source, like, name).examples(lambda row: True))
