"""Every command answers --help with an example; the public surface of the package is pinned."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

import sloguard
from sloguard.cli import cli


def walk(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths.extend(walk(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = walk(cli)


def test_the_command_tree_has_every_command_of_the_design() -> None:
    top = {path[0] for path in COMMANDS if path}
    assert {"check", "validate", "stack", "demo", "load", "soak", "stress", "compare", "rules", "dashboards",
            "report", "import", "baseline"} <= top


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "sloguard")
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`sloguard {' '.join(path)} --help` shows no example"


def test_public_names_are_pinned() -> None:
    assert sorted(sloguard.__all__) == [
        "API_VERSION", "BackendError", "ExitCode", "SloguardError", "SpecError", "UsageError", "__version__",
    ]
    assert [int(code) for code in sloguard.ExitCode] == [0, 1, 2]
