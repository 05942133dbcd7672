"""Every command's function takes exactly its options, by name and typed: no `**options` hand-off."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click
import pytest

from sloguard.cli import cli


def commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    if command.callback is not None:
        yield " ".join(path) or "sloguard", command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))


@pytest.mark.parametrize(("name", "command"), list(commands(cli)))
def test_the_function_takes_each_option_by_its_name_with_a_type(name: str, command: click.Command) -> None:
    assert command.callback is not None
    parameters = inspect.signature(command.callback).parameters.values()
    assert not [p for p in parameters if p.kind is p.VAR_KEYWORD], f"{name} takes **options"
    taken = {p.name for p in parameters if p.name != "ctx"}
    assert taken == {p.name for p in command.params if p.expose_value}, name
    assert all(p.annotation is not p.empty for p in parameters), f"{name} has an untyped parameter"
