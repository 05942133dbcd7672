"""`sloguard rules`, `sloguard dashboards`: files generated from a spec."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sloguard.conventions import ExitCode

if TYPE_CHECKING:
    from sloguard.spec.model import SLOSet
# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


F = TypeVar("F", bound=Callable[..., Any])
# What a generator makes of a spec and its burn windows: relative path -> file content.
Build = Callable[["SLOSet", str | None], dict[str, str]]


def _spec_option(func: F) -> F:
    option = click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
                          type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
    return option(func)


def _files(spec_file: str, windows: str | None, build: Build) -> dict[str, str]:
    # The spec loader pulls in pydantic and yaml: imported here so `sloguard --help` stays light.
    from sloguard.spec.loader import load_spec

    return build(load_spec(spec_file), windows)


def _generate(spec_file: str, output_dir: str, windows: str | None, build: Build) -> None:
    """Write what the spec generates and name every file written."""
    from sloguard.generated import write_files

    for path in write_files(_files(spec_file, windows, build), Path(output_dir)):
        click.echo(f"wrote {path}")


def _check(spec_file: str, directory: str, windows: str | None, build: Build, *, pattern: str, command: str,
           summary: Callable[[dict[str, str]], str]) -> None:
    """Exit 1 with a diff summary when the committed files differ from what the spec generates."""
    from sloguard.generated import drift

    files = _files(spec_file, windows, build)
    problems = drift(files, Path(directory), pattern=pattern)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        hint = f"sloguard {command} generate -f {spec_file} -o {directory}"
        click.echo(f"sloguard: {len(problems)} file(s) differ from the spec; run `{hint}`", err=True)
        sys.exit(int(ExitCode.FAILED))
    click.echo(f"{directory}: up to date with {spec_file} ({summary(files)})")


def _rule_files(slo_set: SLOSet, windows: str | None) -> dict[str, str]:
    from sloguard import rules as rules_mod
    from sloguard.spec.windows import windows_for

    return rules_mod.output_files(slo_set, windows_for(slo_set, windows))


def _dashboard_files(directory: str) -> Build:
    """The dashboards' generator, versioning each dashboard against its committed file in `directory`."""
    def build(slo_set: SLOSet, windows: str | None) -> dict[str, str]:
        from sloguard import dashboards as dashboards_mod
        from sloguard.spec.windows import windows_for

        return dashboards_mod.output_files(slo_set, windows_for(slo_set, windows), Path(directory))

    return build


@click.group()
def rules() -> None:
    """Prometheus recording and alert rules generated from the spec.

    \b
    Example:
      sloguard rules generate -f sloguard.yaml -o alerts/
    """


_RULES_WINDOWS_HELP = "Burn-rate windows: a built-in name (google) or a YAML file; default: the spec's."


@rules.command("generate")
@_spec_option
@click.option("-o", "--output-dir", default="alerts", show_default=True, type=click.Path(file_okay=False),
              help="Directory for <service>.rules.yml.")
@click.option("--windows", help=_RULES_WINDOWS_HELP)
def rules_generate(spec_file: str, output_dir: str, windows: str | None) -> None:
    """Write Sloth-compatible SLI recording rules and burn-rate/threshold alerts.

    \b
    Example:
      sloguard rules generate -f sloguard.yaml -o alerts/
      sloguard rules generate --windows tests/data/rules/burn-windows-fast.yaml -o /tmp/fast-alerts
    """
    _generate(spec_file, output_dir, windows, _rule_files)


@rules.command("check")
@_spec_option
@click.option("-d", "--dir", "directory", default="alerts", show_default=True, type=click.Path(file_okay=False),
              help="Directory holding the committed rules.")
@click.option("--windows", help=_RULES_WINDOWS_HELP)
def rules_check(spec_file: str, directory: str, windows: str | None) -> None:
    """Exit 1 with a diff summary when the committed rules differ from what the spec generates.

    \b
    Example:
      sloguard rules check -f sloguard.yaml -d alerts/
    """
    _check(spec_file, directory, windows, _rule_files, pattern="*.rules.yml", command="rules",
           summary=lambda files: ", ".join(files))


@click.group()
def dashboards() -> None:
    """Grafana dashboards (and provisioning) generated from the spec.

    \b
    Example:
      sloguard dashboards generate -f sloguard.yaml -o dashboards/
    """


@dashboards.command("generate")
@_spec_option
@click.option("-o", "--output-dir", default="dashboards", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the dashboard JSON and provisioning/.")
@click.option("--windows", help="Burn-rate windows (as for `rules generate`); sets the windows panels show.")
def dashboards_generate(spec_file: str, output_dir: str, windows: str | None) -> None:
    """Write the SLO overview, Rust vs Python, load run and memory soak dashboards.

    A dashboard keeps the version of its file in the output directory when nothing else changed, and
    goes up by one when something did.

    \b
    Example:
      sloguard dashboards generate -f sloguard.yaml -o dashboards/
    """
    _generate(spec_file, output_dir, windows, _dashboard_files(output_dir))


@dashboards.command("check")
@_spec_option
@click.option("-d", "--dir", "directory", default="dashboards", show_default=True,
              type=click.Path(file_okay=False), help="Directory holding the committed dashboards.")
@click.option("--windows", help="Burn-rate windows (as for `rules generate`).")
def dashboards_check(spec_file: str, directory: str, windows: str | None) -> None:
    """Exit 1 with a diff summary when the committed dashboards differ from what the spec generates.

    \b
    Example:
      sloguard dashboards check -f sloguard.yaml -d dashboards/
    """
    _check(spec_file, directory, windows, _dashboard_files(directory), pattern="*.json", command="dashboards",
           summary=lambda files: f"{len(files)} files")


# `dashboards preview` lives in its own module (it draws, it does not generate); registered here so the
# `dashboards` group has all its commands in one place.
from sloguard.cli.preview import preview as _preview  # noqa: E402

dashboards.add_command(_preview)
