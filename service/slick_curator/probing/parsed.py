"""A read `Dataset` kept as Parquet, so a file is parsed once (at upload) and every later step
(probe jobs, fine-tune evaluation sets) reads the parsed rows back instead of the file.

A folder holds `table.parquet` (every input row and column, as read), `examples.parquet` (the
valid rows as the core sees them), `errors.parquet` (the bad rows) and, written last,
`meta.json` (format, kind, column map, counts). A folder without `meta.json`, or whose files
disagree with it, is not a parsed dataset: `read_parsed` answers None and the caller reads the
file instead.

`ParsedWriter` writes the chunks of a file as they are read (an upload of a million rows never
holds them all), into a temp folder beside the target that replaces it when complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from slick_curator.probing.columns import ColumnMap
from slick_curator.probing.example_store import StoredExamples, StoredTable
from slick_curator.probing.reading import Chunk, Dataset
from slick_curator.probing.records import Example, RowError

log = logging.getLogger(__name__)

__all__ = ["ParsedWriter", "read_parsed", "write_parsed"]

VERSION = 2  # 2: examples carry their chat context
EXAMPLES = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("question", pa.string(), nullable=False),
    pa.field("answers", pa.list_(pa.string()), nullable=False),
    pa.field("group", pa.string(), nullable=False),
    pa.field("id", pa.string()),
    pa.field("context", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
             nullable=False),
])
ERRORS = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("field", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
])


class ParsedWriter:
    """Writes a dataset chunk by chunk; `finish` puts the complete folder in place.

    Used as a context manager: leaving it without `finish` (an error, a rejected upload)
    removes what was written. A temp folder left by a crash is an orphan that
    Store.remove_orphans deletes on the next start.
    """

    def __init__(self, folder: Path) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
        self._table: pq.ParquetWriter | None = None
        self._table_ok = True
        self._examples = pq.ParquetWriter(self._tmp / "examples.parquet", EXAMPLES,
                                          compression="zstd")
        self._errors = pq.ParquetWriter(self._tmp / "errors.parquet", ERRORS,
                                        compression="zstd")
        self.rows = self.examples = self.errors = 0

    def __enter__(self) -> ParsedWriter:
        return self

    def __exit__(self, *exc) -> None:
        if self._tmp.exists():
            self._close()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def add(self, chunk: Chunk) -> None:
        if self._table_ok:
            try:
                if self._table is None:
                    self._table = pq.ParquetWriter(self._tmp / "table.parquet",
                                                   chunk.table.schema, compression="zstd")
                self._table.write_table(chunk.table)
            except (pa.ArrowException, ValueError) as exc:
                log.info("dataset kept as its file only (its table has no Parquet form: %s)",
                         exc)
                self._table_ok = False
        self._examples.write_table(_examples_table(chunk.examples))
        self._errors.write_table(pa.Table.from_pylist(
            [dataclasses.asdict(e) for e in chunk.errors], schema=ERRORS))
        self.rows += chunk.table.num_rows
        self.examples += len(chunk.examples)
        self.errors += len(chunk.errors)

    def finish(self, format: str, kind: str, columns: ColumnMap) -> bool:
        """Put the folder in place; False (nothing left) when the table has no Parquet form,
        in which case the dataset is re-read from its file each time."""
        has_table = self._table is not None
        self._close()
        if not self._table_ok or not has_table:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return False
        (self._tmp / "meta.json").write_text(json.dumps({
            "version": VERSION, "format": format, "kind": kind,
            "columns": dataclasses.asdict(columns), "rows": self.rows,
            "examples": self.examples, "errors": self.errors}, indent=1))
        for path in self._tmp.iterdir():
            _fsync(path)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self._tmp, self.folder)
        _fsync(self.folder.parent)  # the rename survives a power cut
        return True

    def _close(self) -> None:
        for writer in (self._table, self._examples, self._errors):
            if writer is not None:
                try:
                    writer.close()
                except (pa.ArrowException, OSError):
                    pass  # only on the way out of a failed write
        self._table = None


def write_parsed(dataset: Dataset, folder: Path) -> bool:
    """Write a whole `dataset` under `folder` (ParsedWriter.finish says what False means)."""
    with ParsedWriter(folder) as writer:
        writer.add(Chunk(dataset.table, dataset.examples, dataset.errors))
        return writer.finish(dataset.format, dataset.kind, dataset.columns)


def _examples_table(examples: list[Example]) -> pa.Table:
    return pa.table({
        "row": [e.row for e in examples],
        "question": [e.question for e in examples],
        "answers": [list(e.answers) for e in examples],
        "group": [e.group for e in examples],
        "id": [e.id for e in examples],
        "context": [[{"role": r, "content": c} for r, c in e.context] for e in examples],
    }, schema=EXAMPLES)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_parsed(folder: Path, *, lazy: bool = False) -> Dataset | None:
    """The dataset written by `write_parsed`, or None where there is none (or it is damaged).

    `lazy`: the table and the examples stay in their files and are read a row group at a
    time when asked for (`example_store`), so a probe job holds a shard, not the dataset."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("version") != VERSION:
            return None
        errors = pq.read_table(folder / "errors.parquet").cast(ERRORS).to_pylist()
        if lazy:
            table: pa.Table | StoredTable = StoredTable(folder / "table.parquet")
            examples: Sequence[Example] = StoredExamples(folder / "examples.parquet")
        else:
            table = pq.read_table(folder / "table.parquet")
            examples = [Example(e["row"], e["question"], tuple(e["answers"]), e["group"],
                                e["id"], tuple((t["role"], t["content"]) for t in e["context"]))
                        for e in pq.read_table(folder / "examples.parquet").cast(EXAMPLES)
                        .to_pylist()]
    except (OSError, ValueError, pa.ArrowException) as exc:
        if (folder / "meta.json").exists():
            log.warning("parsed dataset in %s is unreadable, reading its file: %s", folder, exc)
        return None
    if (table.num_rows, len(examples), len(errors)) != (meta["rows"], meta["examples"],
                                                        meta["errors"]):
        log.warning("parsed dataset in %s is incomplete, reading its file", folder)
        return None
    return Dataset(
        table=table,  # type: ignore[arg-type]  # StoredTable: what a probe job reads of it
        examples=examples,  # type: ignore[arg-type]
        errors=[RowError(**e) for e in errors],
        format=meta["format"], kind=meta["kind"], columns=ColumnMap(**meta["columns"]))
