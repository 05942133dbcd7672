"""`sloguard demo` commands through click's CliRunner."""

from __future__ import annotations

import pytest

pytest.importorskip("jwt")

from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.demo.tokens import TokenVerifier


def test_demo_help_lists_the_service_commands() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    for command in ("serve", "policy-server", "token"):
        assert command in result.output


@pytest.mark.parametrize("command", ["serve", "policy-server", "token"])
def test_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, ["demo", command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_token_is_accepted_by_the_service_verifier() -> None:
    result = CliRunner().invoke(
        cli, ["demo", "token", "--user", "alice", "--roles", "analyst, developer", "--tenant", "acme",
              "--secret", "s" * 32],
    )  # fmt: skip
    assert result.exit_code == 0
    identity = TokenVerifier("s" * 32).verify("Bearer " + result.output.strip())
    assert (identity.user_id, identity.roles, identity.tenant) == ("alice", ("analyst", "developer"), "acme")


@pytest.mark.parametrize(
    "args",
    [["--inject-latency", "rust"], ["--inject-errors", "python:250%"], ["--inject-leak", "go:1KiB"],
     ["--policies", "/nonexistent/policies"], ["--decision", "data..x"]],
)  # fmt: skip
def test_serve_rejects_bad_options_in_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["demo", "serve", "--port", "1", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
