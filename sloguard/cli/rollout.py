"""`sloguard rollout run|resume|status|abort`: carry the Rust path through a plan's steps (docs/rollout.md)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STATE_DIR = ".sloguard/rollout"


def _state_dir_option(command: F) -> F:
    """--state-dir: the same option on every rollout command."""
    return click.option("--state-dir", "state_dir", default=DEFAULT_STATE_DIR, show_default=True,
                        type=click.Path(file_okay=False),
                        help="The rollout's state directory: rollout-state.json, decisions.jsonl.")(command)


def _prometheus_option(command: F) -> F:
    return click.option("--prometheus", "prometheus_url", envvar="SLOGUARD_PROMETHEUS_URL", required=True,
                        help="Prometheus-API base URL. Env: SLOGUARD_PROMETHEUS_URL.")(command)


def _metrics_port_option(command: F) -> F:
    return click.option("--metrics-port", type=click.IntRange(1, 65535),
                        help="Serve the rollout's own metrics on this loopback port while it runs "
                             "(`stack up --rollout-metrics-port` scrapes them).")(command)


def _client_latencies_option(command: F) -> F:
    return click.option("--client-latencies", "client_latencies", type=click.Path(),
                        help="A load generator's latencies CSV (or its run directory), read as it grows: "
                             "its samples by X-Sark-Implementation feed a client-side latency monitor "
                             "(`sloguard load run --open-loop --output-dir DIR` writes DIR/latencies.csv).")(command)


@click.group()
def rollout() -> None:
    """Progressive rollout of the Rust path, gated by SLOs and a same-window Rust-vs-Python test.

    Exit 0 = reached 100 %, 1 = rolled back (or aborted), 2 = could not evaluate, 130 = interrupted
    (the step is held; `resume` continues it).

    \b
    Example:
      sloguard rollout run rollout.yaml --prometheus http://127.0.0.1:9090
      sloguard rollout status
    """


@rollout.command("run")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@_prometheus_option
@_state_dir_option
@_metrics_port_option
@_client_latencies_option
def run(plan_file: str, prometheus_url: str, state_dir: str, metrics_port: int | None,
        client_latencies: str | None) -> None:
    """Start a rollout of PLAN_FILE and drive it until it completes, rolls back or is stopped.

    Exit 0 = the last flag reached 100 %, 1 = rolled back (or aborted), 2 = could not evaluate
    (the step is held), 130 = Ctrl-C (the step is held).

    \b
    Example:
      sloguard rollout run rollout.yaml --prometheus http://127.0.0.1:9090 --state-dir .sloguard/rollout
    """
    from sloguard.rollout import controller
    from sloguard.rollout.plan import load_plan

    plan = load_plan(plan_file)
    _drive(plan_file, prometheus_url, lambda: (controller.start(plan, Path(plan_file), Path(state_dir)), ()),
           metrics_port, client_latencies)


@rollout.command("resume")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@_prometheus_option
@_state_dir_option
@_metrics_port_option
@_client_latencies_option
def resume(plan_file: str, prometheus_url: str, state_dir: str, metrics_port: int | None,
           client_latencies: str | None) -> None:
    """Continue the recorded rollout (after a crash, a hold, a rollback or Ctrl-C) with the same plan.

    \b
    Example:
      sloguard rollout resume rollout.yaml --prometheus http://127.0.0.1:9090
    """
    from sloguard.rollout import controller
    from sloguard.rollout.plan import load_plan

    load_plan(plan_file)  # a bad plan is its one line, before the state is touched
    _drive(plan_file, prometheus_url, lambda: controller.reopen(Path(plan_file), Path(state_dir)), metrics_port,
           client_latencies)


def _drive(plan_file: str, prometheus_url: str, open_store: Callable[[], tuple[Any, tuple[str, ...]]],
           metrics_port: int | None, client_latencies: str | None) -> None:
    """Check Prometheus, then open the state (start or resume) and run the controller to its exit code."""
    from sloguard.prometheus import PrometheusClient
    from sloguard.report.console import make_console
    from sloguard.rollout.client_latencies import ClientLatencies
    from sloguard.rollout.controller import Controller
    from sloguard.rollout.flags import setter_for
    from sloguard.rollout.plan import load_plan
    from sloguard.spec.loader import load_spec

    plan = load_plan(plan_file)
    slo_set = load_spec(plan.spec_path)
    console = make_console(stderr=True)
    client = ClientLatencies(Path(client_latencies)) if client_latencies else None
    with PrometheusClient.from_env(prometheus_url) as prometheus:
        prometheus.buildinfo()  # Prometheus must answer before a flag moves (exit 2 otherwise)
        setter = setter_for(plan.flag_setter, cwd=Path(plan_file).resolve().parent)
        store, warnings = open_store()
        for warning in warnings:
            console.print(warning, markup=False, highlight=False)
        with store, contextlib.ExitStack() as serving:
            if metrics_port is not None:
                from sloguard.rollout.metrics import serve_metrics  # prometheus_client: only when asked

                serving.enter_context(serve_metrics(store.directory, metrics_port, flags=plan.flags))
            code = Controller(plan, store, setter, prometheus.instant_query, slo_set, console=console,
                              client=client).run()
            click.echo(f"rollout {plan.name}: {store.state.status}"
                       + (f" ({store.state.reason})" if store.state.reason else ""))
    sys.exit(int(code))


@rollout.command("status")
@_state_dir_option
def status(state_dir: str) -> None:
    """Where the recorded rollout stands: status, step, percent, pending change, last decision.

    \b
    Example:
      sloguard rollout status --state-dir .sloguard/rollout
    """
    from sloguard.rollout.controller import status_lines

    for line in status_lines(Path(state_dir)):
        click.echo(line)


@rollout.command("abort")
@_state_dir_option
@click.option("--reason", required=True, help="Why: recorded in the decision log.")
def abort(state_dir: str, reason: str) -> None:
    """Stop the rollout for good; the flags stay where they are. A running controller stops at its next look.

    \b
    Example:
      sloguard rollout abort --reason "pager: checkout errors"
    """
    from sloguard.rollout import controller

    click.echo(controller.abort(Path(state_dir), reason))
