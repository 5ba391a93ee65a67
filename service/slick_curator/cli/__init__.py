"""`slick`: the command line. One module per command group; they register themselves here."""

from __future__ import annotations

import click

from slick_curator._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="slick")
def cli() -> None:
    """Curate SFT data by asking the target model what it already knows (SliCK)."""


def _register() -> None:
    # Each command module imports its heavy dependencies (torch, the engines) lazily, inside
    # the command, so `slick --help` and the client-side commands start fast.
    from slick_curator.cli import curate, finetune, probe, query, remote, report, serve

    for command in (probe.probe, serve.serve, remote.remote, curate.curate, report.report,
                    query.query, finetune.finetune):
        cli.add_command(command)


_register()


def main() -> None:
    cli()
