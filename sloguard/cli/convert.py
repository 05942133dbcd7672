"""`sloguard import` and `sloguard export`: specs converted from and to Sloth and OpenSLO."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sloguard.errors import SloguardError, UsageError

if TYPE_CHECKING:
    from sloguard.importers import ImportedSpec
    from sloguard.spec.model import SLOSet
# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).

# A service name that is safe as a file name: <service>.yaml under -o DIR.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _warn(lines: tuple[str, ...]) -> None:
    for line in lines:
        click.echo(f"sloguard: warning: {line}", err=True)


def _write(path: Path, text: str) -> None:
    from sloguard.files import write_text_atomic

    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise SloguardError(f"{path}: cannot write ({exc.strerror or exc})") from None
    click.echo(f"wrote {path}", err=True)


def _read(source: str) -> str:
    try:
        return Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not UTF-8 text") from None
    except OSError as exc:
        raise SloguardError(f"{source}: cannot read ({exc.strerror or exc})") from None


# ---- import -----------------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Convert Sloth or OpenSLO specs to sloguard/v1 specs.

    \b
    Example:
      sloguard import sloth sloth-slos.yaml -o sloguard.yaml
    """


def _output_directory(output: str) -> Path | None:
    """The directory -o names (an existing one, or a path ending in /), else None for a file."""
    path = Path(output)
    if output.endswith("/") or path.is_dir():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SloguardError(f"{output}: cannot create the directory ({exc.strerror or exc})") from None
        return path
    return None


def _write_specs(specs: list[ImportedSpec], output: str | None, source: str) -> None:
    """stdout: one `---`-separated stream; -o FILE: the one service; -o DIR: DIR/<service>.yaml each."""
    for spec in specs:
        _warn(spec.warnings)
    if output is None:
        click.echo("---\n".join(spec.text for spec in specs), nl=False)
        return
    directory = _output_directory(output)
    if directory is None:
        if len(specs) > 1:
            names = ", ".join(spec.service for spec in specs)
            raise UsageError(f"{source}: {len(specs)} services ({names}) make {len(specs)} specs; -o {output} is "
                             "one file: give a directory (-o DIR/) or leave -o out for one stream")
        _write(Path(output), specs[0].text)
        return
    for spec in specs:
        if not _FILE_NAME.fullmatch(spec.service):
            raise UsageError(f"{source}: service {spec.service!r} is not a safe file name for -o DIR")
        _write(directory / f"{spec.service}.yaml", spec.text)


_OUTPUT_HELP = "Write here instead of stdout: a file for one service, or a directory (DIR/) for <service>.yaml each."


@import_group.command("sloth")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", help=_OUTPUT_HELP)
def import_sloth(source: str, output: str | None) -> None:
    """Convert a Sloth spec (prometheus/v1 or the PrometheusServiceLevel CRD; one or more documents).

    One sloguard spec per service; documents of one service merge.

    \b
    Example:
      sloguard import sloth slos.yaml -o sloguard.yaml
      sloguard import sloth all-services.yaml -o specs/
    """
    from sloguard import importers

    _write_specs(importers.import_sloth(_read(source), source), output, source)


@import_group.command("openslo")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", help=_OUTPUT_HELP)
def import_openslo(source: str, output: str | None) -> None:
    """Convert OpenSLO documents (openslo/v1alpha, or openslo/v1 SLO, SLI and DataSource) of one service.

    \b
    Example:
      sloguard import openslo openslo.yaml -o sloguard.yaml
    """
    from sloguard import importers

    _write_specs([importers.import_openslo(_read(source), source)], output, source)


# ---- export -----------------------------------------------------------------------------------


@click.group("export")
def export_group() -> None:
    """Convert sloguard/v1 specs to Sloth or OpenSLO.

    \b
    Example:
      sloguard export sloth sloguard.yaml -o sloth.yaml
    """


def _export_output(text: str, warnings: tuple[str, ...], output: str | None) -> None:
    _warn(warnings)
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(Path(output), text)


def _load(specs: tuple[str, ...]) -> list[SLOSet]:
    from sloguard.spec.loader import load_spec

    return [load_spec(spec) for spec in specs]


_SKIP_HELP = "Leave out, with a warning each, the objectives the format cannot express (default: an error)."


@export_group.command("sloth")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--kubernetes", is_flag=True, help="Write Sloth's PrometheusServiceLevel CRD (sloth.slok.dev/v1).")
@click.option("--skip-unsupported", is_flag=True, help=_SKIP_HELP)
def export_sloth(specs: tuple[str, ...], output: str | None, kubernetes: bool, skip_unsupported: bool) -> None:
    """Write each spec as a Sloth prometheus/v1 document (or a CRD with --kubernetes).

    \b
    Example:
      sloguard export sloth sloguard.yaml -o sloth.yaml
      sloguard export sloth specs/*.yaml --kubernetes --skip-unsupported
    """
    from sloguard import exporters

    exported = exporters.export_sloth(_load(specs), kubernetes=kubernetes, skip_unsupported=skip_unsupported)
    _export_output(exported.text, exported.warnings, output)


@export_group.command("openslo")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--skip-unsupported", is_flag=True, help=_SKIP_HELP)
def export_openslo(specs: tuple[str, ...], output: str | None, skip_unsupported: bool) -> None:
    """Write each spec as OpenSLO v1 documents: a Service, then an SLO per objective.

    \b
    Example:
      sloguard export openslo sloguard.yaml -o openslo.yaml
    """
    from sloguard import exporters

    exported = exporters.export_openslo(_load(specs), skip_unsupported=skip_unsupported)
    _export_output(exported.text, exported.warnings, output)
