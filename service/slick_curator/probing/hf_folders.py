"""Hugging Face `datasets` folders, read and written with pyarrow alone (the `datasets` package
is not needed).

Format `hf`, as `Dataset.save_to_disk` writes it: `state.json` (the Arrow files, in order:
`_data_files`), `dataset_info.json` (features, description) and the Arrow files themselves, in
Arrow's streaming format. A `DatasetDict` folder (`dataset_dict.json`, one subfolder per split)
is not one dataset: point at a split's folder.

Format `hub`, a dataset repository as the Hub serves it (a clone, or what `snapshot_download`
fetches; curation.hub_folder writes one): its train split is the Parquet files
`data/train-*.parquet`, read in name order.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["folder_format", "folder_sha256", "is_hf_folder", "read_folder_table",
           "write_hf_folder"]

_DATA_FILE = "data-00000-of-00001.arrow"


class HFFolderError(ValueError):
    """A folder that is not a readable `save_to_disk` dataset; the message says why."""


def is_hf_folder(path: str | os.PathLike) -> bool:
    """A `save_to_disk` folder (of a Dataset, or of a DatasetDict: `_data_files` says which)."""
    path = Path(path)
    return path.is_dir() and any((path / n).is_file()
                                 for n in ("state.json", "dataset_dict.json"))


def _hub_files(path: Path) -> list[Path]:
    return sorted((path / "data").glob("train-*.parquet"))


def folder_format(path: str | os.PathLike) -> str | None:
    """"hf", "hub", or None for a folder that is neither."""
    if is_hf_folder(path):
        return "hf"
    return "hub" if Path(path).is_dir() and _hub_files(Path(path)) else None


def _data_files(path: Path) -> list[Path]:
    if folder_format(path) == "hub":
        return _hub_files(path)
    if (path / "dataset_dict.json").is_file():
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        raise HFFolderError(f"{path.name} is a DatasetDict (splits: {', '.join(splits)}); "
                            "point at one split's folder, e.g. "
                            f"{path.name}/{splits[0] if splits else 'train'}")
    try:
        state = json.loads((path / "state.json").read_text())
        names = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HFFolderError(f"{path.name}: no readable state.json ({exc})") from exc
    files = [path / name for name in names]
    for file in files:
        if file.parent != path or not file.is_file():
            raise HFFolderError(f"{path.name}: data file {file.name!r} is missing")
    return files


def read_folder_table(path: str | os.PathLike, max_bytes: int | None = None) -> pa.Table:
    """Every row of the folder's data files (Arrow or Parquet), in order, their schema's HF
    metadata dropped."""
    files = _data_files(Path(path))
    size = sum(f.stat().st_size for f in files)
    if max_bytes is not None and size > max_bytes:
        raise HFFolderError(f"{Path(path).name}: {size} bytes of Arrow data, more than the "
                            f"limit of {max_bytes}")
    tables = []
    for file in files:
        try:
            if file.suffix == ".parquet":
                tables.append(pq.read_table(file))
            else:
                with pa.memory_map(str(file)) as source:
                    tables.append(pa.ipc.open_stream(source).read_all())
        except (pa.ArrowException, OSError) as exc:
            raise HFFolderError(f"{Path(path).name}: unreadable data file {file.name}: "
                                f"{exc}") from exc
    if not tables:
        raise HFFolderError(f"{Path(path).name} has no data files")
    try:
        return pa.concat_tables(tables).replace_schema_metadata(None)
    except pa.ArrowException as exc:
        raise HFFolderError(f"{Path(path).name}: its data files differ in columns or types: "
                            f"{exc}") from exc


def folder_sha256(path: str | os.PathLike) -> str:
    """A hash of the folder's data files, in order (what the dataset is)."""
    digest = hashlib.sha256()
    for file in _data_files(Path(path)):
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def write_hf_folder(table: pa.Table, path: str | os.PathLike) -> None:
    """`table` as a folder `datasets.load_from_disk` opens (features inferred from Arrow)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    data = path / _DATA_FILE
    with pa.OSFile(str(data), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()[:16]
    (path / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": _DATA_FILE}], "_fingerprint": digest,
        "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
        "_output_all_columns": False, "_split": None}, indent=2))
    (path / "dataset_info.json").write_text(json.dumps({
        "citation": "", "description": "Curated by slick-curator.", "features": None,
        "homepage": "", "license": ""}, indent=2))
