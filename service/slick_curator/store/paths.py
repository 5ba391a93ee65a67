"""Where things live under the data dir. Paths are built from ids we generate, never from
names users send."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_ID = re.compile(r"^[a-z]{2}_[0-9a-f]{8,64}$")


def _safe(id_: str) -> str:
    if not _ID.match(id_):
        raise ValueError(f"not a service id: {id_!r}")
    return id_


@dataclass(frozen=True)
class DataDir:
    """The data dir layout: job store, uploads and their parsed rows, staging area and
    per-probe folders."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "slick.duckdb"

    @property
    def staging(self) -> Path:
        return self.root / "tmp"

    def upload(self, dataset_id: str) -> Path:
        return self.root / "uploads" / _safe(dataset_id)

    def parsed(self, dataset_id: str) -> Path:
        """The dataset's rows as parsed at upload (probing.parsed)."""
        return self.root / "parsed" / _safe(dataset_id)

    def probe(self, probe_id: str) -> Path:
        return self.root / "probes" / _safe(probe_id)

    def result(self, probe_id: str) -> Path:
        return self.probe(probe_id) / "result.parquet"

    def finetune(self, finetune_id: str) -> Path:
        return self.root / "finetunes" / _safe(finetune_id)

    def create(self) -> None:
        for folder in (self.root, self.staging, self.root / "uploads", self.root / "parsed",
                       self.root / "probes"):
            folder.mkdir(parents=True, exist_ok=True)
        # Half-received uploads from a previous run are never resumed.
        for leftover in self.staging.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
