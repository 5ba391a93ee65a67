"""`slick report annotated.parquet -o report.html`: the HTML report, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from slick_curator.cli.curate import column_options, open_annotated, params_from, policy_options


@click.command()
@click.argument("annotated", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write. Default: NAME.report.html beside ANNOTATED.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the report's data as JSON.")
@click.option("--examples", type=click.IntRange(0, 100), default=5, show_default=True,
              help="Example rows per category.")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a browser.")
@policy_options
@column_options
def report(annotated: Path, output: Path | None, json_path: Path | None, examples: int,
           open_browser: bool, **options: Any) -> None:
    """Write a self-contained HTML report of an annotated Parquet file.

    Categories overall and per group, P_greedy / P_sample distributions, examples of each
    category, what the policy (default: filter) would do, and the run's model and parameters.
    One file, no network needed to open it.
    """
    from slick_curator.reporting import build_report, render_html

    params = params_from(options)
    data = open_annotated(annotated, options)
    result = build_report(data, params, examples=examples)
    output = output or annotated.with_name(f"{annotated.name.split('.')[0]}.report.html")
    output.write_text(render_html(result), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    shares = ", ".join(f"{c} {result.categories[c]} ({result.shares[c]:.0%})"
                       for c in result.categories)
    click.echo(f"{result.rows} rows, {result.probed} probed: {shares}", err=True)
    click.echo(f"wrote {output}", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())
