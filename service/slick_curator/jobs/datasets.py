"""Dataset ingestion: validate a staged upload, store it (and its parsed rows) once per
content, read it back later.

An upload is read chunk by chunk and its parsed rows written as they come (probing.parsed), so
validating a million rows holds one chunk, the first listed errors and per-group counts.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from slick_curator.errors import DatasetInvalid, PayloadTooLarge
from slick_curator.jobs.execute import UNNAMED_UPLOAD, load_dataset
from slick_curator.jobs.messages import DatasetSource
from slick_curator.probing.parsed import ParsedWriter
from slick_curator.probing.read_errors import rows_error
from slick_curator.probing.reading import (
    ColumnMap,
    Dataset,
    DatasetError,
    DatasetScan,
    DatasetTooLarge,
    ReadLimits,
    scan_dataset,
)
from slick_curator.probing.records import RowError
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, Store

log = logging.getLogger(__name__)

# The setting behind each limit the reader enforces, for the 413 message.
_LIMIT_SETTINGS = {"bytes": "SLICK_MAX_UPLOAD_BYTES", "rows": "SLICK_MAX_ROWS"}
# Distinct questions counted per group: a probe needs at most k_shot + 1 (k_shot <= 32), so
# counting stops here and a group of a million questions costs no more than this.
_DISTINCT_QUESTIONS_CAP = 1024

# Which upload parameter names each ColumnMap field.
COLUMN_PARAMS = {"question": "question_column", "answer": "answer_column",
                 "answers": "answers_column", "messages": "messages_column", "id": "id_column",
                 "group": "group_column"}


def read_limits(settings: Settings) -> ReadLimits:
    """This server's bounds on a dataset, applied at upload and on every re-read."""
    return ReadLimits(max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows,
                      max_columns=settings.max_columns, max_depth=settings.max_nesting_depth)


def dataset_source(record: DatasetRecord, store: Store, settings: Settings) -> DatasetSource:
    """How the worker re-reads `record`: as at upload, within this server's limits."""
    return DatasetSource(path=str(store.paths.upload(record.id)), format=record.format,
                         name=record.name, columns=record.column_map,
                         max_text_chars=record.max_text_chars, limits=read_limits(settings),
                         parsed=str(store.paths.parsed(record.id)))


@dataclass(frozen=True)
class Upload:
    """A received upload in the staging area: decompressed bytes, their hash and size."""

    path: Path
    sha256: str
    size: int
    name: str | None
    format: str


class _Tally:
    """What a dataset record says about the rows, gathered chunk by chunk: counts, groups,
    distinct questions per group (up to a cap) and the first `listed` row errors."""

    def __init__(self, listed: int) -> None:
        self.listed = listed
        self.rows = self.valid_rows = self.bad_rows = 0
        self.names: list[str] = []
        self.groups: collections.Counter[str] = collections.Counter()
        # Exact strings: never fewer than the pool's own (normalised) count, so probe
        # creation's check is never stricter than the worker's exact one.
        self.questions: dict[str, set[str]] = collections.defaultdict(set)
        self.errors: list[RowError] = []

    def add(self, chunk) -> None:
        self.names = self.names or chunk.table.column_names
        self.rows += chunk.table.num_rows
        self.valid_rows += len(chunk.examples)
        self.bad_rows += len(chunk.errors)
        self.errors += chunk.errors[: self.listed - len(self.errors)]
        for e in chunk.examples:
            self.groups[e.group] += 1
            seen = self.questions[e.group]
            if len(seen) < _DISTINCT_QUESTIONS_CAP:
                seen.add(e.question)


class DatasetService:
    """Turns uploads into stored datasets; the same content and mapping is stored once."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def register(self, upload: Upload, columns: ColumnMap, on_error: str
                 ) -> tuple[DatasetRecord, bool]:
        """(record, created). Raises DatasetInvalid (400) or PayloadTooLarge (413)."""
        try:
            return self._register(upload, columns, on_error)
        finally:
            upload.path.unlink(missing_ok=True)

    def _register(self, upload: Upload, columns: ColumnMap, on_error: str
                  ) -> tuple[DatasetRecord, bool]:
        # The columns the upload named (the id of a content and mapping stays as it was before
        # shapes were detected).
        mapping = {k: v for k, v in dataclasses.asdict(columns).items() if k in COLUMN_PARAMS}
        key = json.dumps([upload.sha256, upload.format, upload.name, mapping], sort_keys=True)
        dataset_id = "ds_" + hashlib.sha256(key.encode()).hexdigest()[:24]
        existing = self.store.datasets.get(dataset_id)
        if existing is not None:
            if on_error == "fail" and existing.errors:
                raise self._bad_rows(existing)
            return existing, False

        folder = self.store.paths.parsed(dataset_id)
        with ParsedWriter(folder) as writer:
            scan, tally = self._read(upload, columns, writer)
            if tally.bad_rows and on_error == "fail":
                raise DatasetInvalid(
                    str(rows_error(tally.errors, scan.name, total=tally.bad_rows)),
                    param="file", errors=tally.errors)
            # Parsed rows and the file go in place before the insert: a crash in between
            # leaves files without a record, which the next start removes
            # (Store.remove_orphans); never a record without its file.
            writer.finish(scan.format, scan.kind, scan.columns)
        record = DatasetRecord(
            id=dataset_id, name=upload.name, format=scan.format, kind=scan.kind,
            rows=tally.rows, valid_rows=tally.valid_rows, sha256=upload.sha256,
            size_bytes=upload.size, columns=tally.names,
            # As read (detected shape, group column): re-reads and the shape come from this.
            column_map=dataclasses.asdict(scan.columns),
            groups=dict(sorted(tally.groups.items())),
            errors=[dataclasses.asdict(e) for e in tally.errors],
            max_text_chars=self.settings.max_text_chars,
            group_questions={g: len(q) for g, q in sorted(tally.questions.items())},
        )
        os.replace(upload.path, self.store.paths.upload(dataset_id))
        created = self.store.datasets.insert(record)
        log.info("dataset %s: %d rows (%d valid) from %r", dataset_id, record.rows,
                 record.valid_rows, upload.name)
        return (record if created else self.store.datasets.get(dataset_id)), created

    def limits(self) -> ReadLimits:
        return read_limits(self.settings)

    def _read(self, upload: Upload, columns: ColumnMap, writer: ParsedWriter
              ) -> tuple[DatasetScan, _Tally]:
        """Read the upload chunk by chunk into `writer`; what the record needs, tallied."""
        s = self.settings
        try:
            # The user's file name (or a neutral one) in messages: never the staging path.
            scan = scan_dataset(upload.path, format=upload.format, columns=columns,
                                name=upload.name or UNNAMED_UPLOAD,
                                max_text_chars=s.max_text_chars, limits=self.limits())
            tally = _Tally(s.max_listed_errors)
            for chunk in scan.chunks():
                writer.add(chunk)
                tally.add(chunk)
            return scan, tally
        except DatasetTooLarge as exc:
            raise PayloadTooLarge(f"{exc} ({_LIMIT_SETTINGS[exc.what]})", param="file") from exc
        except DatasetError as exc:
            file_level = [e for e in exc.errors if e.row < 0]
            param = "file"
            if file_level:
                by_column = {v: COLUMN_PARAMS[k] for k, v in dataclasses.asdict(columns).items()
                             if v is not None and k in COLUMN_PARAMS}
                param = by_column.get(file_level[0].field, "file")
            raise DatasetInvalid(str(exc), param=param,
                                 errors=exc.errors[: s.max_listed_errors]) from exc
        except Exception as exc:  # a reader bug must still be a clean answer, without paths
            log.warning("unreadable upload %r", upload.name, exc_info=True)
            raise DatasetInvalid(f"could not read the file as {upload.format} "
                                 f"({type(exc).__name__})", param="file") from exc

    @staticmethod
    def _bad_rows(record: DatasetRecord) -> DatasetInvalid:
        n = record.rows - record.valid_rows
        return DatasetInvalid(
            f"{n} bad row(s) in {record.name or 'dataset'} (on_error=fail stores nothing)",
            param="file", errors=record.errors)

    def source(self, record: DatasetRecord) -> DatasetSource:
        return dataset_source(record, self.store, self.settings)

    def load(self, record: DatasetRecord) -> Dataset:
        """The stored dataset, read as the worker reads it (its parsed rows)."""
        return load_dataset(self.source(record))
