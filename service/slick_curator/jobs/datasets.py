"""Dataset ingestion: validate a staged upload, store it once per content, re-read it later."""

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
from slick_curator.jobs.execute import load_dataset
from slick_curator.jobs.messages import DatasetSource
from slick_curator.probing.reading import ColumnMap, Dataset, DatasetError, read_dataset
from slick_curator.settings import Settings
from slick_curator.store import DatasetRecord, Store

log = logging.getLogger(__name__)

# Which upload parameter names each ColumnMap field.
COLUMN_PARAMS = {"question": "question_column", "answer": "answer_column",
                 "answers": "answers_column", "messages": "messages_column", "id": "id_column",
                 "group": "group_column"}


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

    def register(self, upload: Upload, columns: ColumnMap, on_error: str
                 ) -> tuple[DatasetRecord, bool]:
        """(record, created). Raises DatasetInvalid (400) or PayloadTooLarge (413)."""
        try:
            return self._register(upload, columns, on_error)
        finally:
            upload.path.unlink(missing_ok=True)

    def _register(self, upload: Upload, columns: ColumnMap, on_error: str
                  ) -> tuple[DatasetRecord, bool]:
        mapping = dataclasses.asdict(columns)
        key = json.dumps([upload.sha256, upload.format, upload.name, mapping], sort_keys=True)
        dataset_id = "ds_" + hashlib.sha256(key.encode()).hexdigest()[:24]
        existing = self.store.datasets.get(dataset_id)
        if existing is not None:
            if on_error == "fail" and existing.errors:
                raise self._bad_rows(existing)
            return existing, False

        dataset = self._read(upload, columns, on_error)
        limit = self.settings.max_listed_errors
        record = DatasetRecord(
            id=dataset_id, name=upload.name, format=dataset.format, kind=dataset.kind,
            rows=dataset.table.num_rows, valid_rows=len(dataset.examples), sha256=upload.sha256,
            size_bytes=upload.size, columns=dataset.table.column_names, column_map=mapping,
            groups=dict(sorted(collections.Counter(e.group for e in dataset.examples).items())),
            errors=[dataclasses.asdict(e) for e in dataset.errors[:limit]],
            max_text_chars=self.settings.max_text_chars,
        )
        os.replace(upload.path, self.store.paths.upload(dataset_id))
        created = self.store.datasets.insert(record)
        log.info("dataset %s: %d rows (%d valid) from %r", dataset_id, record.rows,
                 record.valid_rows, upload.name)
        return (record if created else self.store.datasets.get(dataset_id)), created

    def _read(self, upload: Upload, columns: ColumnMap, on_error: str) -> Dataset:
        s = self.settings
        try:
            dataset = read_dataset(upload.path, format=upload.format, columns=columns,
                                   on_error=on_error, name=upload.name,
                                   max_text_chars=s.max_text_chars, limit=s.max_rows + 1)
        except DatasetError as exc:
            file_level = [e for e in exc.errors if e.row < 0]
            param = "file"
            if file_level:
                by_column = {v: COLUMN_PARAMS[k] for k, v in dataclasses.asdict(columns).items()
                             if v is not None}
                param = by_column.get(file_level[0].field, "file")
            raise DatasetInvalid(str(exc), param=param,
                                 errors=exc.errors[: s.max_listed_errors]) from exc
        except Exception as exc:
            log.warning("unreadable upload %r", upload.name, exc_info=True)
            raise DatasetInvalid(f"could not read the file as {upload.format}: {exc}",
                                 param="file") from exc
        if dataset.table.num_rows > s.max_rows:
            raise PayloadTooLarge(f"the dataset has more than {s.max_rows} rows, this server's "
                                  "limit (SLICK_MAX_ROWS)", param="file")
        return dataset

    @staticmethod
    def _bad_rows(record: DatasetRecord) -> DatasetInvalid:
        n = record.rows - record.valid_rows
        return DatasetInvalid(
            f"{n} bad row(s) in {record.name or 'dataset'} (on_error=fail stores nothing)",
            param="file", errors=record.errors)

    def source(self, record: DatasetRecord) -> DatasetSource:
        return DatasetSource(path=str(self.store.paths.upload(record.id)), format=record.format,
                             name=record.name, columns=record.column_map,
                             max_text_chars=record.max_text_chars)

    def load(self, record: DatasetRecord) -> Dataset:
        """The stored dataset, read exactly as the worker will read it."""
        return load_dataset(self.source(record))
