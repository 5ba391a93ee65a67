"""`slick`: the command line. One module per command group; they register themselves here."""

from __future__ import annotations

import click

import slick_curator


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(slick_curator.__version__, prog_name="slick")
def cli() -> None:
    """Curate SFT data by asking the target model what it already knows (SliCK)."""


def _register() -> None:
    from slick_curator.cli import probe

    cli.add_command(probe.probe)
    for module_name, command_name in [
        ("slick_curator.cli.serve", "serve"),
        ("slick_curator.cli.remote", "remote"),
        ("slick_curator.cli.curate", "curate"),
        ("slick_curator.cli.report", "report"),
        ("slick_curator.cli.query", "query"),
        ("slick_curator.cli.finetune", "finetune"),
    ]:
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command group not built yet
        cli.add_command(getattr(module, command_name))


_register()


def main() -> None:
    cli()
