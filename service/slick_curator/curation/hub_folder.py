"""A curated export laid out as a dataset repository on the Hugging Face Hub (format `hub`):
`README.md`, the dataset card, whose YAML `configs` names the data files, and
`data/train-00000-of-00001.parquet`. `datasets.load_dataset(folder)` reads it (split "train"),
and the folder can be uploaded to the Hub as it is. The other folder format, `hf`, is what
`Dataset.save_to_disk` writes, which `datasets.load_from_disk` opens and `load_dataset` refuses.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from slick_curator.atomic_files import write_parquet_atomic

__all__ = ["DATA_FILE", "write_hub_folder"]

DATA_FILE = "data/train-00000-of-00001.parquet"
# What `load_dataset` reads: one config, one split, its files by pattern.
_CONFIGS = ["configs:", "- config_name: default", "  data_files:", "  - split: train",
            "    path: data/train-*"]


def with_configs(card: str | None) -> str:
    """`card` with the `configs` the folder needs in its YAML front matter (a card without
    front matter gets one)."""
    card = card or ""
    if card.startswith("---\n"):
        return "---\n" + "\n".join(_CONFIGS) + "\n" + card.removeprefix("---\n")
    return "---\n" + "\n".join(_CONFIGS) + "\n---\n\n" + card


def write_hub_folder(table: pa.Table, path: str | os.PathLike, card: str | None) -> None:
    """`table` as the train split of a Hub-style dataset folder at `path`, with `card`.

    Other `data/train-*` files (an earlier export to the same folder) are removed: the
    pattern in the card would read them too."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    data = path / DATA_FILE
    data.parent.mkdir(parents=True, exist_ok=True)
    for stale in data.parent.glob("train-*"):
        if stale != data:
            stale.unlink()
    write_parquet_atomic(table, data)
    (path / "README.md").write_text(with_configs(card), encoding="utf-8")

