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


@pytest.mark.parametrize(("args", "env", "named"), [
    (["--host", "0.0.0.0"], {}, ["HS256 secret", "admin token"]),
    (["--host", "192.0.2.10", "--secret", "my-own-secret"], {}, ["admin token"]),
    (["--host", "::", "--admin-token", "my-own-token"], {}, ["HS256 secret"]),
    (["--host", "sark.example.com", "--secret", "s", "--admin-token", "t"],
     {"SLOGUARD_DEMO_SECRET": "sloguard-demo-insecure-dev-secret-change-me"}, []),  # --secret wins over the env
    (["--host", ""], {"SLOGUARD_DEMO_SECRET": "own", "SLOGUARD_DEMO_ADMIN_TOKEN": "sloguard-demo-admin"},
     ["admin token"]),  # the default given by hand is still the default
])
def test_serve_refuses_a_public_address_with_a_default_secret_or_admin_token(
        monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], named: list[str]) -> None:
    started: list[object] = []
    monkeypatch.setattr("sloguard.demo.app.run_service", started.append)
    for name in ("SLOGUARD_DEMO_SECRET", "SLOGUARD_DEMO_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["demo", "serve", "--port", "1", *args], env=env)
    if not named:
        assert result.exit_code == 0 and len(started) == 1, result.output
        return
    assert result.exit_code == 2 and not started
    (line,) = result.output.strip().splitlines()
    assert line.startswith("sloguard: error: refusing to listen on")
    for what in ("HS256 secret", "admin token"):
        assert (what in line) == (what in named), line


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_serve_keeps_the_dev_defaults_on_loopback(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    started: list[object] = []
    monkeypatch.setattr("sloguard.demo.app.run_service", started.append)
    for name in ("SLOGUARD_DEMO_SECRET", "SLOGUARD_DEMO_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["demo", "serve", "--port", "1", "--host", host])
    assert result.exit_code == 0, result.output
    assert len(started) == 1
