"""The `sloguard` command line: one small function per subcommand; the logic lives elsewhere.

Heavy libraries are imported inside the commands that need them so that
`sloguard --help` and `sloguard validate` start fast.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sloguard import __version__
from sloguard.conventions import ExitCode
from sloguard.errors import SloguardError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly_errors(func: F) -> F:
    """Turn a SloguardError into a one-line message and its exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SloguardError as exc:
            click.echo(f"sloguard: error: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("sloguard: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sloguard")
def cli() -> None:
    """SLO checks for SARK's Rust and Python authorization paths.

    \b
    Example:
      sloguard check -f sloguard.yaml --prometheus http://127.0.0.1:9090 --last 10m
    """


def main() -> None:
    """Console-script entry point; click's own usage errors exit 2 like ours."""
    cli(prog_name="sloguard")


# ---- validate ---------------------------------------------------------------------------------


@cli.command()
@click.argument("spec_file", default="sloguard.yaml", type=click.Path(dir_okay=False))
@_friendly_errors
def validate(spec_file: str) -> None:
    """Check an SLO spec without a backend.

    \b
    Example:
      sloguard validate sloguard.yaml
    """
    from sloguard.spec.loader import load_spec

    slo_set = load_spec(spec_file)
    click.echo(f"{spec_file}: valid ({len(slo_set.objectives)} objectives)")


# ---- check ------------------------------------------------------------------------------------
# (filled in by the check command below)
