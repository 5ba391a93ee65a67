"""Probing in-process, for notebooks and scripts: `slick_curator.probe` (the library API) and
`probe_table`, the one path `slick probe` runs too.

>>> from slick_curator import curate, probe, report                   # doctest: +SKIP
>>> table = probe("train.jsonl", n_prompts=4)   # or a DataFrame, an Arrow table, dicts
>>> train = curate(table, policy="relabel", output="train.curated.hf")
>>> html = report(table)

The same reading, progress bar and checkpoints as the CLI: with `checkpoint_dir`, finished
shards are kept there and a call interrupted (even by a killed kernel) resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["ProbeError", "ProbeRequest", "curate", "probe", "probe_table", "report"]


class ProbeError(ValueError):
    """The data or the options cannot be probed (a bad file, no usable rows, too few
    exemplars, an unknown model); the message says which and why."""


@dataclasses.dataclass
class ProbeRequest:
    """What to probe and how: a dataset file, its exemplar pool, the SliCK parameters, the
    engine, and where checkpoints go."""

    dataset: Path
    params: Any  # probing.params.ProbeParams
    columns: Any  # probing.columns.ColumnMap
    checkpoint_dir: Path
    model: str = "smollm2-135m"
    engine: str = "transformers"
    device: str | None = None
    exemplars: Path | None = None
    limit: int | None = None
    on_error: str = "fail"
    shard_size: int = 64
    progress: bool = True
    source_name: str | None = None


def probe_table(request: ProbeRequest, say: Callable[[str], None]) -> pa.Table:
    """The annotated table of `request`'s dataset; `say` gets one line per event (rows read,
    skipped rows, warnings, loading, resuming). Raises ProbeError."""
    from slick_curator.engines.factory import EngineSpec, load_engine
    from slick_curator.engines.registry import (
        UnknownEngineError,
        supports_exact_mode,
        supports_fast_mode,
    )
    from slick_curator.jobs.resumable import probe_resumable
    from slick_curator.probing.file_pool import PoolScan
    from slick_curator.probing.params import resolve_mode
    from slick_curator.probing.pipeline import ProbeRun
    from slick_curator.probing.prompts import ExemplarError
    from slick_curator.probing.reading import DatasetError, read_dataset
    from slick_curator.probing.row_index import IndexedRows, single_answer
    from slick_curator.weights import ModelNotFoundError

    try:  # the run, its checkpoints and its metadata record the mode chosen
        r = dataclasses.replace(request, params=resolve_mode(request.params, request.engine))
    except UnknownEngineError as exc:
        raise ProbeError(str(exc)) from exc
    params = r.params
    if params.mode == "fast" and not supports_fast_mode(r.engine):
        raise ProbeError(f"--mode fast needs the transformers engine (engine {r.engine!r} "
                         "cannot score answers)")
    if params.mode == "exact" and not supports_exact_mode(r.engine):
        raise ProbeError(f"--mode exact needs the transformers engine (engine {r.engine!r} "
                         "cannot enumerate continuations)")
    try:
        data = read_dataset(r.dataset, columns=r.columns, on_error=r.on_error, limit=r.limit)
        pool = (read_dataset(r.exemplars, columns=r.columns, on_error="skip")
                if r.exemplars else None)
    except DatasetError as exc:
        raise ProbeError(str(exc)) from exc
    for error in data.errors:
        say(f"skipped {error}")
    say(f"read {data.table.num_rows} rows of {data.format} as {data.shape} rows "
        f"({len(data.examples)} to probe)")
    if not data.examples:
        raise ProbeError(f"{r.source_name or r.dataset} has no usable rows")

    def probe_run(whole: IndexedRows | None = None) -> ProbeRun:
        try:
            run = ProbeRun(data, params, exemplars=pool, shard_size=r.shard_size,
                           pool_rows=whole)
        except ExemplarError as exc:
            raise ProbeError(str(exc)) from exc
        for warning in run.warnings:
            say(f"warning: {warning}")
        return run

    # Exemplars come from the whole file even when only its head is probed, so a limit never
    # changes a row's prompts; the file is indexed while the model loads.
    limited = r.limit is not None and not r.exemplars
    keep = single_answer if params.multi_answer == "skip" else None
    scan = (PoolScan(r.dataset, like=data, override=params.answer_kind, keep=keep)
            if limited else contextlib.nullcontext())
    with scan:
        if limited:
            say("indexing the whole file for exemplars while the model loads …")
        run = None if limited else probe_run()  # a bad pool fails before the model loads
        spec = EngineSpec(engine=r.engine, model=r.model, device=r.device, seed=params.seed)
        say(f"loading {spec.model_name} with {r.engine} …")
        try:
            loaded = load_engine(spec)
        except ModelNotFoundError as exc:
            raise ProbeError(str(exc)) from exc
        with loaded:
            run = run or probe_run(_whole_file_pool(scan, say))
            shards = probe_resumable(run, loaded, r.checkpoint_dir, _fingerprint(r, spec),
                                     seed=params.seed, disable_progress=not r.progress, say=say)
            metadata = run.metadata(loaded.info(), model=spec.model_name,
                                    source=r.source_name or r.dataset.name)
    return run.annotate(shards, metadata)


def _whole_file_pool(scan: Any, say: Callable[[str], None]) -> Any:
    """What `scan` (a file_pool.PoolScan) indexed, as ProbeRun's `pool_rows`."""
    from slick_curator.probing.reading import DatasetError

    try:
        whole = scan.result()
    except DatasetError as exc:
        raise ProbeError(str(exc)) from exc
    say(f"indexed {len(whole.index)} exemplar rows of the whole file")
    return whole


def _fingerprint(r: ProbeRequest, spec: Any) -> dict[str, Any]:
    """What a checkpoint must have been made with to be resumed."""
    from slick_curator._version import __version__
    from slick_curator.jobs.resumable import file_sha256
    from slick_curator.probing.hf_folders import folder_sha256

    return {
        "dataset": folder_sha256(r.dataset) if r.dataset.is_dir() else file_sha256(r.dataset),
        "exemplars": file_sha256(r.exemplars) if r.exemplars else None,
        "limit": r.limit, "on_error": r.on_error, "columns": dataclasses.asdict(r.columns),
        "params": r.params.model_dump(mode="json"), "engine": r.engine, "model": spec.model_name,
        "device": r.device, "shard_size": r.shard_size, "release": __version__,
    }


def probe(data: Any, *, model: str = "smollm2-135m", engine: str = "transformers",
          device: str | None = None, exemplars: str | os.PathLike[str] | None = None,
          limit: int | None = None, on_error: str = "skip",
          columns: dict[str, str] | None = None,
          checkpoint_dir: str | os.PathLike[str] | None = None, progress: bool = True,
          shard_size: int = 64, **params: Any) -> pa.Table:
    """Probe `data` with the SliCK protocol in this process; the annotated rows as an Arrow
    table (every input column, then the `slick_` columns; see the README's Annotated Parquet).

    `data` is a dataset file (any format `slick probe` reads), a pyarrow Table, a pandas or
    polars DataFrame, a `datasets.Dataset`, or a list of dicts. `params` are the `ProbeParams`
    fields (mode, n_prompts, k_shot, n_samples, temperature, top_k, seed, prompt_format,
    answer_kind, …); `columns` maps ColumnMap fields to column names ({"question": "q"}).
    With `checkpoint_dir`, finished shards are kept there until the call returns, and a call
    that was interrupted resumes from them (checkpoints of other data or parameters are
    discarded). Raises ProbeError for data or options that cannot be probed, and pydantic's
    ValidationError for a bad parameter.
    """
    from slick_curator.probing.columns import ColumnMap
    from slick_curator.probing.params import ProbeParams

    say = (lambda line: print(line, file=sys.stderr)) if progress else (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="slick-probe-") as scratch, _as_file(data) as (
            path, name):
        folder = Path(checkpoint_dir) if checkpoint_dir else Path(scratch) / "checkpoints"
        request = ProbeRequest(
            dataset=path, params=ProbeParams(**params), columns=ColumnMap(**(columns or {})),
            checkpoint_dir=folder, model=model, engine=engine, device=device,
            exemplars=Path(exemplars) if exemplars else None, limit=limit, on_error=on_error,
            shard_size=shard_size, progress=progress, source_name=name)
        table = probe_table(request, say)
    shutil.rmtree(folder, ignore_errors=True)
    return table


@contextlib.contextmanager
def _as_file(data: Any) -> Iterator[tuple[Path, str | None]]:
    """A file (or save_to_disk folder) to read `data` from, and the name to show: a path as it
    is; in-memory data written to a temporary file the way the client uploads it (Parquet for
    tables and frames, JSON lines for a list of dicts)."""
    if isinstance(data, (str, os.PathLike)):
        yield Path(data), None
        return
    from slick_client._uploads import prepare_upload

    with prepare_upload(data) as body:
        if body.path is None:
            raise TypeError("cannot probe a file object: pass its path")
        yield body.path, f"{type(data).__name__} data"


def _annotated(annotated: Any):
    from slick_curator.curation import AnnotatedFile

    if isinstance(annotated, pa.Table):
        return AnnotatedFile.from_table(annotated)
    return AnnotatedFile.read(annotated)


def curate(annotated: Any, *, policy: str = "filter", all_rows: bool = False,
           drop_annotations: bool = False, output: str | os.PathLike[str] | None = None,
           format: str | None = None, **knobs: Any) -> pa.Table:
    """Apply a curation policy to what `probe` returned (or an annotated Parquet path): the
    training set as an Arrow table, in the input's row shape. `knobs` are the other
    `CurationParams` fields (unknown, min_p_greedy, caps, abstention, …). With `output`, it is
    also written there (the format from its suffix, `format`, or the input's; `.hf` or an hf
    input: a save_to_disk folder, `.hub` or format "hub": a folder `datasets.load_dataset`
    reads; both with a dataset card)."""
    from slick_client.schemas import CurationParams

    from slick_curator.curation import curate as apply_policy
    from slick_curator.curation import export_format, write_export
    from slick_curator.curation.card import dataset_card
    from slick_curator.curation.export import LOCAL_EXPORT_FORMATS

    data = _annotated(annotated)
    curated = apply_policy(data, CurationParams(policy=policy, **knobs))
    table = curated.output(all_rows=all_rows, drop_annotations=drop_annotations)
    if output is not None:
        chosen = export_format(output, format, data.format, formats=LOCAL_EXPORT_FORMATS)
        write_export(table, output, chosen,
                     messages_column=data.columns.messages if data.kind == "chat" else None,
                     card=dataset_card(data, curated.summary))
    return table


def report(annotated: Any, *, path: str | os.PathLike[str] | None = None,
           policy: str | None = None, examples: int = 5, **knobs: Any) -> str:
    """The probe's report as one self-contained HTML page (saved at `path` when given), for
    what `probe` returned or an annotated Parquet path; the policy's effect is shown for
    `policy` and `knobs` (default: filter)."""
    from slick_client.schemas import CurationParams

    from slick_curator.reporting import build_report, render_html

    params = CurationParams(**({"policy": policy} if policy else {}), **knobs)
    page = render_html(build_report(_annotated(annotated), params, examples=examples))
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page
