"""Dataset ingestion: validate a staged upload, store it (and its parsed rows) once per
content, read it back later.

An upload is read chunk by chunk and its parsed rows written as they come (jobs.upload_reader),
so validating a million rows holds one chunk, the first listed errors and per-group counts; a
large one is read in a child process, so the API stays responsive meanwhile.
"""

from __future__ import annotations

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
from slick_curator.jobs.upload_reader import ReadFailure, ReadRequest, UploadReaders
from slick_curator.probing.reading import ColumnMap, Dataset, ReadLimits
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, Store

log = logging.getLogger(__name__)

# The setting behind each limit the reader enforces, for the 413 message.
_LIMIT_SETTINGS = {"bytes": "SLICK_MAX_UPLOAD_BYTES", "rows": "SLICK_MAX_ROWS"}

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


class DatasetService:
    """Turns uploads into stored datasets; the same content and mapping is stored once."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.readers = UploadReaders(settings.upload_in_process_bytes)

    def close(self) -> None:
        self.readers.close()

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

        s = self.settings
        # Parsed rows and the file go in place before the insert: a crash in between leaves
        # files without a record, which the next start removes (Store.remove_orphans); never
        # a record without its file.
        outcome = self.readers.read(ReadRequest(
            path=str(upload.path), format=upload.format,
            # The user's file name (or a neutral one) in messages: never the staging path.
            name=upload.name or UNNAMED_UPLOAD, columns=columns,
            max_text_chars=s.max_text_chars, limits=self.limits(),
            parsed=str(self.store.paths.parsed(dataset_id)), listed=s.max_listed_errors,
            on_error=on_error), upload.size)
        if isinstance(outcome, ReadFailure):
            raise self._refusal(outcome, columns)
        record = DatasetRecord(
            id=dataset_id, name=upload.name, format=outcome.format, kind=outcome.kind,
            rows=outcome.rows, valid_rows=outcome.valid_rows, sha256=upload.sha256,
            size_bytes=upload.size, columns=outcome.names,
            # As read (detected shape, group column): re-reads and the shape come from this.
            column_map=dataclasses.asdict(outcome.columns), groups=outcome.groups,
            errors=outcome.errors, max_text_chars=s.max_text_chars,
            group_questions=outcome.group_questions,
        )
        os.replace(upload.path, self.store.paths.upload(dataset_id))
        created = self.store.datasets.insert(record)
        log.info("dataset %s: %d rows (%d valid) from %r", dataset_id, record.rows,
                 record.valid_rows, upload.name)
        return (record if created else self.store.datasets.get(dataset_id)), created

    def limits(self) -> ReadLimits:
        return read_limits(self.settings)

    @staticmethod
    def _refusal(failure: ReadFailure, columns: ColumnMap) -> DatasetInvalid | PayloadTooLarge:
        if failure.kind == "too_large":
            return PayloadTooLarge(f"{failure.message} ({_LIMIT_SETTINGS[failure.what]})",
                                   param="file")
        param = "file"
        file_level = [e for e in failure.errors if e["row"] < 0]
        if file_level:  # a missing column is the parameter that named it
            by_column = {v: COLUMN_PARAMS[k] for k, v in dataclasses.asdict(columns).items()
                         if v is not None and k in COLUMN_PARAMS}
            param = by_column.get(file_level[0]["field"], "file")
        return DatasetInvalid(failure.message, param=param, errors=failure.errors)

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
