"""The `sloguard` command line: one small function per subcommand; the logic lives elsewhere.

Each module of this package holds the commands of one subject; this one assembles them
under one group, which is also the one place that turns a SloguardError into its exit
code. Heavy libraries are imported inside the commands that need them so that
`sloguard --help` and `sloguard validate` start fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sloguard import __version__
from sloguard.cli import check, compare, convert, demo, generate, load, rollout, stack
from sloguard.conventions import EXIT_INTERRUPTED
from sloguard.errors import SloguardError


class SloguardGroup(click.Group):
    """The root group: every command runs through `invoke`, which maps errors to exits once."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SloguardError as exc:
            click.echo(f"sloguard: error: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("sloguard: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=SloguardGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sloguard")
def cli() -> None:
    """SLO checks for SARK's Rust and Python authorization paths.

    \b
    Example:
      sloguard check -f sloguard.yaml --prometheus http://127.0.0.1:9090 --last 10m
    """


for _command in (
    check.validate, check.check, stack.stack, demo.demo, load.load, load.soak, load.stress,
    compare.compare, compare.baseline, compare.report, generate.rules, generate.dashboards, convert.import_group,
    convert.export_group, rollout.rollout,
):  # fmt: skip
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point; click's own usage errors exit 2 like ours."""
    cli(prog_name="sloguard")


__all__ = ["cli", "main"]
