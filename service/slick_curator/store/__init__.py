"""The job store (DuckDB, all SQL lives here) and the data dir layout beside it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from slick_curator.store.datasets import DatasetRecord, DatasetStore
from slick_curator.store.db import TERMINAL, Database
from slick_curator.store.finetunes import FinetuneRecord, FinetuneStore
from slick_curator.store.paths import DataDir
from slick_curator.store.probes import ProbeRecord, ProbeStore

__all__ = ["TERMINAL", "DataDir", "DatasetRecord", "FinetuneRecord", "ProbeRecord", "Store"]

log = logging.getLogger(__name__)


class Store:
    """The data dir plus the DuckDB file in it. Exactly one process opens a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.paths = DataDir(Path(data_dir))
        self.paths.create()
        self.db = Database(self.paths.database)
        self.datasets = DatasetStore(self.db)
        self.probes = ProbeStore(self.db)
        self.finetunes = FinetuneStore(self.db)
        self.remove_orphans()

    def remove_orphans(self) -> list[str]:
        """Remove stored upload files (and their parsed rows) that have no dataset record
        (staging: DataDir.create).

        An upload is moved into place before its record is inserted, so a crash in between
        leaves a file nobody can reach; run before serving, when no upload is in flight.
        """
        known = self.datasets.ids()
        removed = []
        for folder in (self.paths.root / "uploads", self.paths.root / "parsed"):
            for path in folder.iterdir():
                if path.name in known:
                    continue
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(f"{folder.name}/{path.name}")
        if removed:
            log.warning("removed %d upload file(s) with no dataset record (an interrupted "
                        "upload): %s", len(removed), ", ".join(sorted(removed)))
        return removed

    def close(self) -> None:
        self.db.close()
