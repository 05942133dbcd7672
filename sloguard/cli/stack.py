"""`sloguard stack up|down|status`: the embedded local stack."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sloguard.conventions import SCRAPE_JOB, ExitCode

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


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
@click.option("--job", default=SCRAPE_JOB, show_default=True,
              help="Scrape job name of the service (SARK's files use sark, sark-api, sark-gateway).")
@click.option("--rollout-metrics-port", type=click.IntRange(1, 65535),
              help="Also scrape a rollout controller's metrics on this loopback port (`rollout run --metrics-port`).")
def stack_up(directory: str, policies: str | None, decision: str | None, rollout: float | None,
             rules: tuple[str, ...], ports: tuple[str, ...], job: str, rollout_metrics_port: int | None) -> None:
    """Start the stack on free loopback ports and wait until every process is healthy.

    The service's admin token is made anew for each stack and kept in DIR/stack.json
    (mode 0600), where `load --stack`, `stress --stack`, `stack status` and the demo read it.

    \b
    Example:
      sloguard stack up --rollout 50 --dir .sloguard/stack
      sloguard stack up --job sark-gateway --rules my-rules.yml
    """
    from sloguard.stack import StackOptions, default_rules, parse_ports, rules_for_another_job, up

    chosen = [Path(r) for r in rules] or default_rules()
    options = StackOptions(
        directory=Path(directory), policies=policies, decision=decision, rollout=rollout,
        rules=chosen, ports=parse_ports(ports), job=job, rollout_metrics_port=rollout_metrics_port,
    )
    state = up(options, say=click.echo)
    for path in rules_for_another_job(chosen, job):
        click.echo(f"note: {path} selects another job than {job}: its alerts see no data (generate rules from a "
                   f"spec with selector {{job: {job}}})")
    click.echo(f"stack up: {state.path} (scrape job {state.job})")


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

    Also asks the service's admin API with the stack's token (from stack.json) for its rollout.

    \b
    Example:
      sloguard stack status --dir .sloguard/stack
    """
    from sloguard.stack import status

    bad = []
    report = status(Path(directory))
    for s in report.components:
        state = "healthy" if s.healthy else ("running, not healthy" if s.running else "DIED")
        click.echo(f"{s.name:<14} pid {s.pid:<7} {state:<22} {s.url}")
        if not s.healthy:
            bad.append(s.name)
    click.echo(f"{'admin API':<14} {report.admin_detail}")
    if report.admin_ok is False:
        bad.append("admin API")
    click.echo(f"{'scrape job':<14} {report.job}")
    if bad:
        click.echo(f"not healthy: {', '.join(bad)}", err=True)
        sys.exit(int(ExitCode.FAILED))
