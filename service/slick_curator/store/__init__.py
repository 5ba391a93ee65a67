"""The job store (DuckDB, all SQL lives here) and the data dir layout beside it."""

from __future__ import annotations

from pathlib import Path

from slick_curator.store.datasets import DatasetRecord, DatasetStore
from slick_curator.store.db import Database
from slick_curator.store.finetunes import FinetuneRecord, FinetuneStore
from slick_curator.store.paths import DataDir
from slick_curator.store.probes import TERMINAL, ProbeRecord, ProbeStore

__all__ = ["TERMINAL", "DataDir", "DatasetRecord", "FinetuneRecord", "ProbeRecord", "Store"]


class Store:
    """The data dir plus the DuckDB file in it. Exactly one process opens a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.paths = DataDir(Path(data_dir))
        self.paths.create()
        self.db = Database(self.paths.database)
        self.datasets = DatasetStore(self.db)
        self.probes = ProbeStore(self.db)
        self.finetunes = FinetuneStore(self.db)

    def close(self) -> None:
        self.db.close()
