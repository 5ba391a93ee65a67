"""`slick remote ...`: run probes on a slick-curator server through the Python client.

    slick remote probe train.jsonl --server http://gpu-box:8000 -o annotated.parquet
    slick remote status ID | slick remote result ID -o out.parquet | slick remote cancel ID

Errors print as one line (type, message, the parameter at fault, then any bad rows). Exit code
2 means the request was wrong (bad parameters or data, unknown id, bad key), 1 that the server,
the network or the job failed, 130 an interrupt (the job keeps running on the server).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, get_args

import click
from slick_client import (
    APIError,
    AuthenticationError,
    BadRequestError,
    Client,
    InvalidParamsError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    ProbeParams,
    ProbePublic,
    SlickError,
    UnsupportedMediaTypeError,
)
from slick_client.schemas import MatchMode, ProbeMode

__all__ = ["remote"]

_USER_ERRORS = (
    InvalidParamsError, BadRequestError, AuthenticationError, NotFoundError,
    PayloadTooLargeError, UnsupportedMediaTypeError,
)
_SHOWN_ROW_ERRORS = 10


def _default(field: str) -> str:
    if field == "mode":
        return "server default: exact where its engine can enumerate, else adaptive"
    return f"server default ({ProbeParams.model_fields[field].default})"


def _fail(exc: BaseException) -> NoReturn:
    """Print one clear line for `exc` (plus its bad rows) and exit 2 or 1."""
    if isinstance(exc, APIError):
        line = f"error: {exc.type}: {exc.message}"
        if exc.param:
            line += f" (param: {exc.param})"
        if exc.status_code:
            line += f" [HTTP {exc.status_code}]"
    elif isinstance(exc, InvalidParamsError):
        line = f"error: invalid parameter {exc.param}: {exc.message}"
    elif isinstance(exc, JobFailedError):
        line = f"error: probe {exc.job.id} {exc.status}: {exc.job.error or 'no reason given'}"
    else:
        line = f"error: {type(exc).__name__}: {exc}"
    click.echo(line, err=True)
    for row in getattr(exc, "errors", [])[:_SHOWN_ROW_ERRORS]:
        click.echo(f"  row {row.row}: {row.field}: {row.reason}", err=True)
    extra = len(getattr(exc, "errors", [])) - _SHOWN_ROW_ERRORS
    if extra > 0:
        click.echo(f"  … and {extra} more bad rows", err=True)
    sys.exit(2 if isinstance(exc, _USER_ERRORS) else 1)


def _interrupted(probe_id: str, server: str) -> NoReturn:
    click.echo(
        f"interrupted: probe {probe_id} keeps running on the server. Follow it with "
        f"`slick remote status {probe_id} --server {server} --follow`, stop it with "
        f"`slick remote cancel {probe_id} --server {server}`.",
        err=True,
    )
    sys.exit(130)


def _connection(command: Callable[..., Any]) -> Callable[..., Any]:
    """--server, --api-key and --timeout, shared by every remote command."""

    @click.option("--server", envvar="SLICK_BASE_URL", default="http://127.0.0.1:8000",
                  show_default=True, show_envvar=True, help="Base URL of the service.")
    @click.option("--api-key", envvar="SLICK_API_KEY", default=None, show_envvar=True,
                  help="Bearer key, when the server has keys.")
    @click.option("--timeout", type=float, default=60.0, show_default=True,
                  help="Seconds per HTTP request.")
    @functools.wraps(command)
    def wrapper(*args: Any, server: str, api_key: str | None, timeout: float, **kwargs: Any):
        try:
            with Client(server, api_key=api_key, timeout=timeout) as client:
                return command(client, *args, **kwargs)
        except SlickError as exc:
            _fail(exc)

    return wrapper


def _summary(job: ProbePublic) -> str:
    counts = ", ".join(f"{name}: {n}" for name, n in job.counts.items())
    return f"{job.progress.done}/{job.progress.total} rows" + (f" ({counts})" if counts else "")


@click.group()
def remote() -> None:
    """Probe datasets on a slick-curator server (see `slick serve`)."""


@remote.command()
@click.argument("dataset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Annotated Parquet to write (required unless --no-wait).")
@click.option("--no-wait", is_flag=True, help="Print the job id and return at once.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--poll-interval", type=float, default=1.0, show_default=True,
              help="Seconds between polls when the event stream is unavailable.")
@click.option("--name", default=None, help="Dataset name on the server. [the file name]")
@click.option("--exemplars", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Separate exemplar file (the paper used the dev split).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="skip",
              show_default=True, help="Bad rows: reject the upload, or skip them.")
@click.option("--question-column", default=None)
@click.option("--answer-column", default=None)
@click.option("--answers-column", default=None)
@click.option("--messages-column", default=None)
@click.option("--id-column", default=None)
@click.option("--group-column", default=None)
@click.option("--model", default=None, help="Model on the server. [server default]")
@click.option("--engine", type=click.Choice(["transformers", "vllm"]), default=None,
              help="Engine on the server. [server default]")
@click.option("--mode", type=click.Choice(get_args(ProbeMode)), default=None,
              help=f"full = the paper's protocol; exact = the category drawn from computed "
                   f"odds. [{_default('mode')}]")
@click.option("--n-prompts", type=int, default=None, help=_default("n_prompts"))
@click.option("--k-shot", type=int, default=None, help=_default("k_shot"))
@click.option("--n-samples", type=int, default=None, help=_default("n_samples"))
@click.option("--temperature", type=float, default=None, help=_default("temperature"))
@click.option("--top-k", type=int, default=None, help=_default("top_k"))
@click.option("--max-new-tokens", type=int, default=None, help=_default("max_new_tokens"))
@click.option("--seed", type=int, default=None, help=_default("seed"))
@click.option("--prompt-format", type=click.Choice(["plain", "chat"]), default=None,
              help=_default("prompt_format"))
@click.option("--match", "match", type=click.Choice(get_args(MatchMode)), default=None,
              help=_default("match"))
@click.option("--answer-kind", type=click.Choice(["auto", "short", "long"]), default=None,
              help=f"short: judge answers whole; long: fact by fact. [{_default('answer_kind')}]")
@click.option("--fact-ner", type=click.Choice(["auto", "spacy", "rules"]), default=None,
              help=_default("fact_ner"))
@click.option("--fact-match", type=click.Choice(["position", "sentence"]), default=None,
              help=_default("fact_match"))
@click.option("--unknown-action", type=click.Choice(["drop", "relabel"]), default=None,
              help=_default("unknown_action"))
@click.option("--keep-prompts/--no-keep-prompts", default=None,
              help="Store the exact prompt texts per row.")
@click.option("--prune-samples/--no-prune-samples", default=None,
              help="Stop hopeless samples early (never changes results).")
@_connection
def probe(client: Client, dataset: Path, output: Path | None, no_wait: bool, no_progress: bool,
          poll_interval: float, name: str | None, exemplars: Path | None, on_error: str,
          model: str | None, engine: str | None, **options: Any) -> None:
    """Upload DATASET, probe it on the server, wait with a progress bar, download the result."""
    if output is None and not no_wait:
        raise click.UsageError("-o/--output is required unless --no-wait is given")
    columns = {k: options.pop(k) for k in list(options) if k.endswith("_column")}
    params = {k: v for k, v in options.items() if v is not None}
    _check_params(params)  # before uploading anything
    ds = client.datasets.upload(dataset, name=name, on_error=on_error, **columns)
    skipped = f", {len(ds.errors)} bad rows skipped" if ds.errors else ""
    click.echo(f"uploaded {dataset.name} as dataset {ds.id}: {ds.valid_rows}/{ds.rows} rows "
               f"usable{skipped}", err=True)
    for row in ds.errors[:_SHOWN_ROW_ERRORS]:
        click.echo(f"  skipped row {row.row}: {row.field}: {row.reason}", err=True)
    exemplar_id = None
    if exemplars is not None:
        exemplar_id = client.datasets.upload(exemplars, on_error="skip", **columns).id
    job = client.probes.create(ds.id, exemplar_dataset_id=exemplar_id, model=model,
                               engine=engine, **params)
    if no_wait:
        click.echo(f"probe {job.id} {job.status}", err=True)
        click.echo(job.id)
        return
    try:
        job = client.probes.wait(job.id, progress=not no_progress, poll_interval=poll_interval)
    except KeyboardInterrupt:
        _interrupted(job.id, client.base_url)
    assert output is not None
    client.probes.result(job.id, path=output)
    click.echo(f"probe {job.id} succeeded: {_summary(job)}; wrote {output}", err=True)


def _check_params(params: dict[str, Any]) -> None:
    from pydantic import ValidationError

    try:
        ProbeParams(**params)
    except ValidationError as exc:
        raise InvalidParamsError.from_validation_error(exc) from None


@remote.command()
@click.argument("probe_id")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@click.option("--follow", is_flag=True, help="Show a progress bar until the job ends.")
@_connection
def status(client: Client, probe_id: str, as_json: bool, follow: bool) -> None:
    """Show where probe PROBE_ID stands (exit 1 if it failed or was cancelled)."""
    if follow:
        try:
            job = client.probes.wait(probe_id, progress=True)
        except KeyboardInterrupt:
            _interrupted(probe_id, client.base_url)
    else:
        job = client.probes.get(probe_id)
    if as_json:
        click.echo(json.dumps(job.model_dump(mode="json"), indent=2))
    else:
        line = f"{job.id} {job.status} {_summary(job)}"
        if job.status == "running" and job.progress.rate is not None:
            line += f", {job.progress.rate:.3g} rows/s"
            if job.progress.eta_s is not None:
                line += f", ETA {job.progress.eta_s:.0f} s"
        if job.error:
            line += f": {job.error}"
        click.echo(line)
    if job.status in ("failed", "cancelled"):
        sys.exit(1)


@remote.command()
@click.argument("probe_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Annotated Parquet to write.")
@_connection
def result(client: Client, probe_id: str, output: Path) -> None:
    """Download the annotated Parquet of a succeeded probe."""
    client.probes.result(probe_id, path=output)
    click.echo(f"wrote {output}", err=True)


@remote.command()
@click.argument("probe_id")
@_connection
def cancel(client: Client, probe_id: str) -> None:
    """Cancel probe PROBE_ID on the server."""
    job = client.probes.cancel(probe_id)
    click.echo(f"{job.id} {job.status}")
