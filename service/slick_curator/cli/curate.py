"""`slick curate annotated.parquet -o train.curated.jsonl`: apply a policy, export in the
input's format (or the one -o names)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

CATEGORY_NAMES = ["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
FORMAT_NAMES = ["jsonl", "json", "csv", "parquet", "hf", "hub"]
# hf: a save_to_disk folder; hub: a folder laid out as a Hub dataset repository
_SUFFIX = {"jsonl": ".jsonl", "json": ".json", "csv": ".csv", "parquet": ".parquet",
           "hf": ".hf", "hub": ".hub"}


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The policy knobs, shared by `slick curate` and `slick report`."""
    options = [
        click.option("--policy", type=click.Choice(["filter", "relabel", "keep", "trim"]),
                     default="filter", show_default=True,
                     help="filter: drop unknown rows (D_Known); relabel: answer them with "
                          "--abstention; keep: annotate only; trim: drop only the sentences "
                          "of free-form answers whose facts are unknown (else the row)."),
        click.option("--unknown", "unknown", multiple=True, metavar="CATEGORY",
                     help="Categories that count as unknown (repeat or comma-separate). "
                          "[Unknown]"),
        click.option("--min-p-greedy", type=float, default=None,
                     help="Known if P_greedy >= this (thresholds replace --unknown)."),
        click.option("--min-p-sample", type=float, default=None,
                     help="Known if P_sample >= this; a null P_sample (adaptive mode) falls "
                          "back to the category."),
        click.option("--min-known-share", type=float, default=None,
                     help="Free-form rows: known if at least this share of their facts is "
                          "known (instead of their least-known fact)."),
        click.option("--max-share", type=float, default=None,
                     help="Most any one category may make of the output (0-1)."),
        click.option("--cap", "cap", multiple=True, metavar="CATEGORY=SHARE",
                     help="Most one category may make of the output, e.g. HighlyKnown=0.5."),
        click.option("--min-per-group", type=int, default=None,
                     help="Keep at least N rows per group where the group has them."),
        click.option("--seed", type=int, default=None, help="Seed of the cap's row pick. [0]"),
        click.option("--abstention", default=None,
                     help="Answer of relabelled rows. [I don't know.]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def column_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Column names, for annotated files that do not record the map they were read with."""
    for name in ("question", "answer", "answers", "messages", "id"):
        command = click.option(f"--{name}-column", default=None,
                               help=f"Override the recorded {name} column.")(command)
    return command


def params_from(options: dict[str, Any]):
    from slick_curator.curation.params import CurationParamsError, build_params

    try:
        return build_params(
            policy=options["policy"], unknown=options["unknown"],
            min_p_greedy=options["min_p_greedy"], min_p_sample=options["min_p_sample"],
            min_known_share=options["min_known_share"], max_share=options["max_share"],
            cap=options["cap"],
            min_per_group=options["min_per_group"], seed=options["seed"],
            abstention=options["abstention"])
    except CurationParamsError as exc:
        fail(f"--{(exc.param or 'policy').replace('_', '-')}: {exc.message}")


def open_annotated(path: Path, options: dict[str, Any]):
    from slick_curator.curation import AnnotatedError, AnnotatedFile

    columns = {name: options.get(f"{name}_column")
               for name in ("question", "answer", "answers", "messages", "id")}
    try:
        return AnnotatedFile.read(path, columns=columns)
    except AnnotatedError as exc:
        fail(str(exc))


def echo_summary(summary) -> None:
    trimmed = f" + {summary.trimmed} trimmed" if summary.params.policy == "trim" else ""
    click.echo(f"{summary.rows} rows in = {summary.kept} kept + {summary.dropped} dropped + "
               f"{summary.relabelled} relabelled{trimmed}", err=True)
    for reason, n in summary.reasons.items():
        click.echo(f"  {n:>7}  {reason}", err=True)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.argument("annotated", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="File to write; its suffix picks the format (.jsonl, .json, .csv, .parquet, "
                   "+ .gz; folders: .hf for save_to_disk, .hub for a Hub dataset repository "
                   "that datasets.load_dataset reads). Default: NAME.curated.EXT beside "
                   "ANNOTATED, in the input's format.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default=None,
              help="Output format. Default: from -o, else the input's.")
@policy_options
@click.option("--drop-annotations", is_flag=True, help="Leave out the slick_ columns.")
@click.option("--all-rows", is_flag=True,
              help="Write every row with its slick_action and slick_reason (to review).")
@column_options
def curate(annotated: Path, output: Path | None, fmt: str | None, drop_annotations: bool,
           all_rows: bool, **options: Any) -> None:
    """Apply a curation policy to an annotated Parquet file and write the training set.

    Rows keep every input column, in the format the dataset came in (chat rows stay chat rows;
    relabelled ones get the abstention as their final assistant turn, trimmed ones the trimmed
    answer). Unless --drop-annotations, each row carries slick_action (keep/relabel/trim) and
    slick_reason.
    """
    from slick_curator.curation import curate as apply_policy
    from slick_curator.curation import export_format, write_export
    from slick_curator.curation.export import LOCAL_EXPORT_FORMATS

    params = params_from(options)
    data = open_annotated(annotated, options)
    try:
        chosen = export_format(output, fmt, data.format, formats=LOCAL_EXPORT_FORMATS)
    except ValueError as exc:
        fail(f"-o: {exc}")
    if output is None:
        stem = annotated.name.split(".")[0]
        output = annotated.with_name(f"{stem}.curated{_SUFFIX[chosen]}")
    curated = apply_policy(data, params)
    table = curated.output(all_rows=all_rows, drop_annotations=drop_annotations)
    from slick_curator.curation.card import dataset_card

    write_export(table, output, chosen,
                 messages_column=data.columns.messages if data.kind == "chat" else None,
                 card=dataset_card(data, curated.summary))
    echo_summary(curated.summary)
    click.echo(f"wrote {table.num_rows} rows to {output} ({chosen}, policy {params.policy})",
               err=True)
