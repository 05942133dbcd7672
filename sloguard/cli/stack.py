"""`sloguard stack up|down|status`: the embedded local stack."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sloguard.conventions import ExitCode

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STACK_DIR = ".sloguard/stack"


def _dir_option(help_text: str | None = None) -> Callable[[F], F]:
    """--dir, the stack's directory: the same option on up, down and status."""
    return click.option("--dir", "directory", default=DEFAULT_STACK_DIR, show_default=True,
                        type=click.Path(file_okay=False), help=help_text)


@click.group()
def stack() -> None:
    """The embedded local stack: Redis, policy server, reference service, Prometheus, Alertmanager.

    \b
    Example:
      sloguard stack up --dir .sloguard/stack && sloguard stack status && sloguard stack down
    """


@stack.command("up")
@_dir_option("Run directory: stack.json, logs, TSDB, configs.")
@click.option("--policies", type=click.Path(file_okay=False, exists=True), help="Rego bundle directory.")
@click.option("--decision", help="Decision path, e.g. data.sark.gateway.decision.")
@click.option("--rollout", type=click.FloatRange(0, 100), help="Percent of users on the Rust path (both flags).")
@click.option("--rules", "rules", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Prometheus rule files to load (default: alerts/*.rules.yml when present).")
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT",
              help="Fixed port for a component (redis, policy-server, service, receiver, alertmanager, prometheus).")
def stack_up(directory: str, policies: str | None, decision: str | None, rollout: float | None,
             rules: tuple[str, ...], ports: tuple[str, ...]) -> None:
    """Start the stack on free loopback ports and wait until every process is healthy.

    \b
    Example:
      sloguard stack up --rollout 50 --dir .sloguard/stack
    """
    from sloguard.stack import StackOptions, default_rules, parse_ports, up

    options = StackOptions(
        directory=Path(directory), policies=policies, decision=decision, rollout=rollout,
        rules=[Path(r) for r in rules] or default_rules(), ports=parse_ports(ports),
    )
    up(options, say=click.echo)
    click.echo(f"stack up: {Path(directory).resolve()}/stack.json")


@stack.command("down")
@_dir_option()
def stack_down(directory: str) -> None:
    """Stop exactly the processes recorded in DIR/stack.json.

    \b
    Example:
      sloguard stack down --dir .sloguard/stack
    """
    from sloguard.stack import down

    for name, pid, was_running in down(Path(directory)):
        click.echo(f"{name:<14} pid {pid:<7} {'stopped' if was_running else 'was not running'}")


@stack.command("status")
@_dir_option()
def stack_status(directory: str) -> None:
    """Say which processes of the stack run and answer their health checks; exit 1 if any does not.

    \b
    Example:
      sloguard stack status --dir .sloguard/stack
    """
    from sloguard.stack import status

    bad = []
    for s in status(Path(directory)):
        state = "healthy" if s.healthy else ("running, not healthy" if s.running else "DIED")
        click.echo(f"{s.name:<14} pid {s.pid:<7} {state:<22} {s.url}")
        if not s.healthy:
            bad.append(s.name)
    if bad:
        click.echo(f"not healthy: {', '.join(bad)}", err=True)
        sys.exit(int(ExitCode.FAILED))
