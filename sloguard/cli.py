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
from sloguard import conventions as c
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
@click.argument("spec_file", default="sloguard.yaml")
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


@cli.command()
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("--prometheus", "prometheus_url", envvar="SLOGUARD_PROMETHEUS_URL", required=True,
              help="Prometheus-API base URL (Prometheus, Thanos, Mimir, VictoriaMetrics). "
                   "Env: SLOGUARD_PROMETHEUS_URL.")
@click.option("--last", help="Window ending now, e.g. 10m, 1h.")
@click.option("--start", help="Window start: unix seconds or RFC 3339.")
@click.option("--end", help="Window end: unix seconds, RFC 3339 or 'now'.")
@click.option("--run", "run_file", type=click.Path(dir_okay=False),
              help="Take the window from a load run's run.json.")
@click.option("--format", "formats", default="table", show_default=True,
              help="Comma-separated: table,json,junit,markdown.")
@click.option("--output-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where the json, junit and markdown reports go.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per query.")
@click.option("--retries", type=click.IntRange(1, 10), default=3, show_default=True,
              help="Attempts per query on connection errors and 5xx.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Also fail when p95 grew more than --max-regression over this `sloguard baseline save` file.")
@click.option("--max-regression", default="10%", show_default=True, help="Allowed growth over --baseline.")
@click.option("--var", "variables", multiple=True, metavar="NAME=NUMBER",
              help="Set a spec variable (overrides spec.variables and the run's sloVariables).")
@_friendly_errors
def check(spec_file: str, prometheus_url: str, last: str | None, start: str | None, end: str | None,
          run_file: str | None, formats: str, output_dir: str, timeout: float, retries: int,
          baseline_file: str | None, max_regression: str, variables: tuple[str, ...]) -> None:
    """Judge the SLOs of a spec against Prometheus over a window.

    Exit 0 = pass (warnings allowed), 1 = an objective failed (no_data counts as
    failed under noData: fail), 2 = could not evaluate.

    \b
    Examples:
      sloguard check --prometheus http://127.0.0.1:9090 --last 10m
      sloguard check -f sloguard.yaml --prometheus $PROM --run runs/quick/run.json \\
          --format table,json,junit,markdown --output-dir reports/
      sloguard check --prometheus $PROM --run runs/pr/run.json --baseline baseline.json --max-regression 10%
    """
    from pathlib import Path

    from rich.console import Console

    from sloguard.check import CheckOptions, parse_formats, parse_variables, resolve_window, run_check, run_variables
    from sloguard.compare import parse_fraction

    spec_variables = run_variables(Path(run_file)) if run_file else {}
    spec_variables.update(parse_variables(variables))
    options = CheckOptions(
        spec_file=spec_file,
        prometheus_url=prometheus_url,
        formats=parse_formats(formats),
        output_dir=Path(output_dir),
        window=resolve_window(last=last, start=start, end=end, run=run_file),
        timeout=timeout,
        retries=retries,
        baseline=baseline_file,
        run_file=run_file,
        max_regression=parse_fraction(max_regression),
        variables=spec_variables,
    )
    _, code = run_check(options, Console())
    sys.exit(int(code))


# ---- stack ------------------------------------------------------------------------------------

DEFAULT_STACK_DIR = ".sloguard/stack"


@cli.group()
def stack() -> None:
    """The embedded local stack: Redis, policy server, reference service, Prometheus, Alertmanager.

    \b
    Example:
      sloguard stack up --dir .sloguard/stack && sloguard stack status && sloguard stack down
    """


@stack.command("up")
@click.option("--dir", "directory", default=DEFAULT_STACK_DIR, show_default=True, type=click.Path(file_okay=False),
              help="Run directory: stack.json, logs, TSDB, configs.")
@click.option("--policies", type=click.Path(file_okay=False, exists=True), help="Rego bundle directory.")
@click.option("--decision", help="Decision path, e.g. data.sark.gateway.decision.")
@click.option("--rollout", type=click.FloatRange(0, 100), help="Percent of users on the Rust path (both flags).")
@click.option("--rules", "rules", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Prometheus rule files to load (default: alerts/*.rules.yml when present).")
@click.option("--port", "ports", multiple=True, metavar="NAME=PORT",
              help="Fixed port for a component (redis, policy-server, service, receiver, alertmanager, prometheus).")
@_friendly_errors
def stack_up(directory: str, policies: str | None, decision: str | None, rollout: float | None,
             rules: tuple[str, ...], ports: tuple[str, ...]) -> None:
    """Start the stack on free loopback ports and wait until every process is healthy.

    \b
    Example:
      sloguard stack up --rollout 50 --dir .sloguard/stack
    """
    from pathlib import Path

    from sloguard.stack import StackOptions, default_rules, parse_ports, up

    options = StackOptions(
        directory=Path(directory), policies=policies, decision=decision, rollout=rollout,
        rules=[Path(r) for r in rules] or default_rules(), ports=parse_ports(ports),
    )
    up(options, say=click.echo)
    click.echo(f"stack up: {Path(directory).resolve()}/stack.json")


@stack.command("down")
@click.option("--dir", "directory", default=DEFAULT_STACK_DIR, show_default=True, type=click.Path(file_okay=False))
@_friendly_errors
def stack_down(directory: str) -> None:
    """Stop exactly the processes recorded in DIR/stack.json.

    \b
    Example:
      sloguard stack down --dir .sloguard/stack
    """
    from pathlib import Path

    from sloguard.stack import down

    for name, pid, was_running in down(Path(directory)):
        click.echo(f"{name:<14} pid {pid:<7} {'stopped' if was_running else 'was not running'}")


@stack.command("status")
@click.option("--dir", "directory", default=DEFAULT_STACK_DIR, show_default=True, type=click.Path(file_okay=False))
@_friendly_errors
def stack_status(directory: str) -> None:
    """Say which processes of the stack run and answer their health checks; exit 1 if any does not.

    \b
    Example:
      sloguard stack status --dir .sloguard/stack
    """
    from pathlib import Path

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


# ---- demo (reference SARK service) ------------------------------------------------------------



@cli.group(invoke_without_command=True)
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True, help="Spec to judge the run.")
@click.option("--profile", default="quick", show_default=True, help="Load profile (loadgen/profiles.yaml).")
@click.option("--rollout", type=click.FloatRange(0, 100), default=50, show_default=True,
              help="Percent of users on the Rust path.")
@click.option("--duration", help="Override the profile's steady-state duration, e.g. 60s.")
@click.option("--inject", "faults", multiple=True, metavar="KIND=IMPL:AMOUNT",
              help="Inject a fault: latency=rust:20ms, errors=python:5%, leak=rust:64KiB (repeatable).")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Keep the run, reports and logs here.")
@click.pass_context
@_friendly_errors
def demo(ctx: click.Context, spec_file: str, profile: str, rollout: float, duration: str | None,
         faults: tuple[str, ...], output_dir: str | None) -> None:
    """Run the demo: stack up, load, check, reports, stack down; exit code = the check's.

    Without a subcommand: starts the embedded stack, drives the `quick` profile at a
    50/50 Rust/Python rollout, judges the run with sloguard.yaml and writes the reports.
    The subcommands run the reference SARK service's parts one by one.

    \b
    Examples:
      sloguard demo
      sloguard demo --inject latency=rust:20ms --output-dir runs/demo-latency
      sloguard demo policy-server --port 8181 &
      sloguard demo serve --port 8000 --opa-url http://127.0.0.1:8181 --rollout 50
      curl -H "Authorization: Bearer $(sloguard demo token --user alice --roles analyst --tenant acme)" \\
        -d '{"action": "gateway:tool:invoke", "server_name": "postgres-mcp",
             "tool_name": "execute_query", "parameters": {"query": "SELECT 1"}}' \\
        http://127.0.0.1:8000/api/v1/gateway/authorize
    """
    if ctx.invoked_subcommand is not None:
        return
    from pathlib import Path

    from rich.console import Console

    from sloguard.demo_pipeline import DemoOptions, run_demo

    options = DemoOptions(spec_file=spec_file, profile=profile, rollout=rollout, faults=faults, duration=duration,
                          output_dir=Path(output_dir) if output_dir else None)
    sys.exit(int(run_demo(options, Console())))


@demo.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=c.DEMO_DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
@click.option("--opa-url", default=f"http://127.0.0.1:{c.DEMO_DEFAULT_POLICY_PORT}", show_default=True,
              help="Policy server (or real OPA) of the Python path.")
@click.option("--redis-url", default=c.DEMO_DEFAULT_REDIS_URL, show_default=True,
              help="Redis of the Python path's decision cache.")
@click.option("--policies", type=click.Path(file_okay=False), default=None,
              help="Rego bundle directory (*.rego, *.json data); default: the bundled SARK policy.")
@click.option("--decision", default=c.DEMO_DEFAULT_DECISION, show_default=True,
              help="Decision document to evaluate.")
@click.option("--rollout", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users on Rust for both flags (overridden by the per-flag options).")
@click.option("--rollout-rust-opa", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users evaluated by the Rust engine [default: 50].")
@click.option("--rollout-rust-cache", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users cached in the Rust cache [default: 50].")
@click.option("--admin-token", envvar=c.ENV_DEMO_ADMIN_TOKEN, default=None,
              help="Bearer token of the /admin API [env SLOGUARD_DEMO_ADMIN_TOKEN; dev default].")
@click.option("--secret", envvar=c.ENV_DEMO_SECRET, default=None,
              help="HS256 key of bearer tokens [env SLOGUARD_DEMO_SECRET; dev default].")
@click.option("--instrumentation", type=click.Choice(["fast", "otel", "off"]), default="fast",
              show_default=True, help="Metric recording: fast (default), stock OTel instruments, or none.")
@click.option("--inject-latency", multiple=True, metavar="IMPL:DURATION",
              help="Add latency to policy evaluation, e.g. rust:20ms (repeatable).")
@click.option("--inject-errors", multiple=True, metavar="IMPL:RATIO",
              help="Fail this share of evaluations (deny, decision=error), e.g. python:5%.")
@click.option("--inject-leak", multiple=True, metavar="IMPL:BYTES",
              help="Keep this much memory per request, e.g. rust:64KiB.")
@click.option("--inject-panics", multiple=True, metavar="FLAG:RATIO",
              help="Simulate Rust failures that fall back to Python, e.g. rust_opa:10%.")
@_friendly_errors
def demo_serve(**options: Any) -> None:
    """Run the reference SARK service (Rust and Python decision paths, /metrics, /admin).

    \b
    Example:
      sloguard demo serve --port 8000 --opa-url http://127.0.0.1:8181 \\
        --redis-url redis://127.0.0.1:6379/0 --rollout 50 --inject-latency rust:20ms
    """
    from sloguard.demo.app import run_service, settings_from_options

    run_service(settings_from_options(options))


@demo.command("policy-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=c.DEMO_DEFAULT_POLICY_PORT, show_default=True, type=int,
              help="Port to listen on (OPA's).")
@click.option("--policies", type=click.Path(file_okay=False), default=None,
              help="Rego bundle directory; default: the bundled SARK policy.")
@click.option("--decision", default=c.DEMO_DEFAULT_DECISION, show_default=True,
              help="Decision checked to exist at start-up.")
@_friendly_errors
def demo_policy_server(host: str, port: int, policies: str | None, decision: str) -> None:
    """Run the OPA-compatible policy server (POST /v1/data/..., PUT /v1/policies/..., GET /health).

    \b
    Example:
      sloguard demo policy-server --port 8181 --policies ./policies
    """
    from sloguard.demo.policy_server import run_policy_server

    run_policy_server(host, port, policies, decision)


@demo.command("token")
@click.option("--user", required=True, help="User id (the token's subject).")
@click.option("--roles", default="", help="Comma-separated roles, e.g. admin,analyst,developer.")
@click.option("--tenant", required=True, help="Tenant of the user, e.g. acme.")
@click.option("--ttl", default=86400, show_default=True, type=int, help="Validity in seconds.")
@click.option("--secret", envvar=c.ENV_DEMO_SECRET, default=None,
              help="HS256 key [env SLOGUARD_DEMO_SECRET; default: the service's dev default].")
@_friendly_errors
def demo_token(user: str, roles: str, tenant: str, ttl: int, secret: str | None) -> None:
    """Print a bearer token for the reference service.

    \b
    Example:
      sloguard demo token --user alice --roles analyst --tenant acme
    """
    from sloguard.demo.tokens import issue_token

    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    click.echo(issue_token(user, role_list, tenant, secret=secret, ttl=ttl))


# ---- load, soak, stress (loadgen/) ------------------------------------------------------------


_HOST_HELP = "Base URL of the reference service (loopback only unless --allow-remote)."


def _load_common(func: F) -> F:
    """Options every load-generating command shares."""
    for decorator in reversed((
        click.option("--allow-remote", is_flag=True,
                     help="Allow a target that is not loopback (only for hosts you own)."),
        click.option("--token-secret", envvar=c.ENV_DEMO_SECRET, default=None,
                     help="HS256 key of the service's bearer tokens [env SLOGUARD_DEMO_SECRET; dev default]."),
        click.option("--no-progress", "progress", flag_value=False, default=True,
                     help="No live progress line."),
    )):  # fmt: skip
        func = decorator(func)
    return func


@cli.group()
def load() -> None:
    """Load runs against SARK: Locust users or an open-loop generator, profiles from loadgen/.

    \b
    Example:
      sloguard load run quick --host http://127.0.0.1:8000 --output-dir runs/quick
      sloguard check --prometheus http://127.0.0.1:9090 --run runs/quick/run.json
    """


@load.command("run")
@click.argument("profile")
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--stack", "stack_dir", default=None, type=click.Path(file_okay=False),
              help="Target the service of a `sloguard stack up` directory (URL and admin token from stack.json).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Requests per second (overrides the profile).")
@click.option("--duration", default=None, help="Steady-state window, e.g. 60s, 10m (overrides the profile).")
@click.option("--warmup", default=None, help="Warm-up before the window, e.g. 10s (overrides the profile).")
@click.option("--open-loop", is_flag=True,
              help="Constant arrival rate: send on schedule, latency from the intended send time.")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Locust distributed mode: a master plus N local worker processes.")
@click.option("--remote-workers", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Also wait for N workers started on other machines (needs --allow-remote).")
@click.option("--master-bind", default="127.0.0.1", show_default=True,
              help="Address the master listens on for workers (routable for remote workers).")
@click.option("--master-port", type=click.IntRange(1, 65535), default=None,
              help="Port the master listens on [default: a free one].")
@click.option("--scale", type=float, default=1.0, show_default=True, envvar=c.ENV_LOAD_SCALE,
              help="Shrink (or grow) users, spawn rate and rate [env SLOGUARD_LOAD_SCALE].")
@click.option("--output-dir", default="runs/latest", show_default=True, type=click.Path(file_okay=False),
              help="Where run.json, latencies.csv and Locust's CSV and HTML go.")
@click.option("--loadgen-dir", envvar=c.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
              help="Directory with locustfile.py and profiles.yaml [default: the checkout's loadgen/].")
@click.option("--admin-token", envvar=c.ENV_DEMO_ADMIN_TOKEN, default=None,
              help="Admin token to apply the profile's rollout [env SLOGUARD_DEMO_ADMIN_TOKEN].")
@click.option("--keep-rollout", is_flag=True, help="Leave the service's rollout split as it is.")
@_load_common
@_friendly_errors
def load_run(profile: str, **options: Any) -> None:
    """Run one load profile headless; writes run.json with the steady-state window.

    Ctrl-C stops early and still writes run.json (window so far) and the latencies.

    \b
    Example:
      sloguard load run target --host http://127.0.0.1:8000 --scale 0.25 --output-dir runs/target
      sloguard load run baseline --host http://127.0.0.1:8000 --open-loop --rate 500 --duration 2m
      sloguard load run stress --host http://127.0.0.1:8000 --workers 4
      sloguard load run quick --stack .sloguard/stack --output-dir runs/quick
    """
    from sloguard.load.commands import load_run as run

    options["loadgen"] = options.pop("loadgen_dir")
    sys.exit(run(profile_name=profile, **options))


@load.command("ab")
@click.argument("profile")
@click.option("--control", required=True, multiple=True,
              help="Base URL of a control build's service process (repeat for replicas).")
@click.option("--experiment", required=True, multiple=True,
              help="Base URL of an experiment build's service process (repeat: as many as --control).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Requests per second to EACH side, split over its replicas (overrides the profile).")
@click.option("--duration", default=None, help="Steady-state window, e.g. 60s, 10m (overrides the profile).")
@click.option("--warmup", default=None, help="Warm-up before the window, e.g. 10s (overrides the profile).")
@click.option("--scale", type=float, default=1.0, show_default=True, envvar=c.ENV_LOAD_SCALE,
              help="Shrink (or grow) the rate [env SLOGUARD_LOAD_SCALE].")
@click.option("--output-dir", default="runs/ab", show_default=True, type=click.Path(file_okay=False),
              help="Writes OUTPUT/control and OUTPUT/experiment, each a run directory.")
@click.option("--loadgen-dir", envvar=c.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
              help="Directory with profiles.yaml [default: the checkout's loadgen/].")
@click.option("--admin-token", envvar=c.ENV_DEMO_ADMIN_TOKEN, default=None,
              help="Admin token to apply the profile's rollout on both services [env SLOGUARD_DEMO_ADMIN_TOKEN].")
@click.option("--keep-rollout", is_flag=True, help="Leave the services' rollout split as it is.")
@_load_common
@_friendly_errors
def load_ab(profile: str, **options: Any) -> None:
    """Run one profile against two builds at once, interleaved in time (open loop).

    Each side gets the profile's rate from one generator, the sides taking turns, so drift
    of a shared machine hits both alike; `sloguard compare` then pairs the two runs' time
    blocks. Two processes of one build differ by a few per cent, so serve each side with
    several processes (repeat --control/--experiment; three each is the calibrated setup)
    and the rate is split over them.

    \b
    Example:
      sloguard load ab baseline --output-dir runs/ab \\
          --control http://127.0.0.1:8001 --control http://127.0.0.1:8002 --control http://127.0.0.1:8003 \\
          --experiment http://127.0.0.1:8011 --experiment http://127.0.0.1:8012 --experiment http://127.0.0.1:8013
      sloguard compare --control runs/ab/control --experiment runs/ab/experiment
    """
    from sloguard.load.commands import load_ab as run

    options["loadgen"] = options.pop("loadgen_dir")
    sys.exit(run(profile_name=profile, **options))


@load.command("profiles")
@click.option("--loadgen-dir", envvar=c.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
              help="Directory with profiles.yaml [default: the checkout's loadgen/].")
@_friendly_errors
def load_profiles(loadgen_dir: str | None) -> None:
    """List the load profiles of loadgen/profiles.yaml.

    \b
    Example:
      sloguard load profiles
    """
    from sloguard.load.commands import list_profiles

    list_profiles(loadgen_dir)


@cli.command()
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--stack", "stack_dir", default=None, type=click.Path(file_okay=False),
              help="Target the service of a `sloguard stack up` directory.")
@click.option("--duration", required=True, help="Steady load for this long, e.g. 24h (CI: 60s).")
@click.option("--sample", required=True, help="RSS sampling interval, e.g. 5m (CI: 2s).")
@click.option("--profile", "profile_name", default="baseline", show_default=True,
              help="Profile giving the rate, workload and warm-up.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Requests per second.")
@click.option("--warmup", default=None, help="Warm-up before sampling starts (overrides the profile).")
@click.option("--pid", type=int, default=None, help="Target process [default: whoever listens on --host's port].")
@click.option("--bound", default="1MiB/h", show_default=True, help="Growth that fails the soak, e.g. 512KiB/h.")
@click.option("--scale", type=float, default=1.0, show_default=True, envvar=c.ENV_LOAD_SCALE,
              help="Shrink the profile's rate [env SLOGUARD_LOAD_SCALE].")
@click.option("--output-dir", default="runs/soak", show_default=True, type=click.Path(file_okay=False),
              help="Where soak.json, rss.csv and latencies.csv go.")
@click.option("--loadgen-dir", "loadgen", envvar=c.ENV_LOADGEN_DIR, default=None,
              type=click.Path(file_okay=False), help="Directory with profiles.yaml.")
@_load_common
@_friendly_errors
def soak(**options: Any) -> None:
    """Steady load while sampling the target's RSS; fits growth per hour with a 95% CI.

    Exit 1 when the whole confidence interval lies above --bound (memory grows).

    \b
    Example:
      sloguard soak --host http://127.0.0.1:8000 --duration 24h --sample 5m
      sloguard soak --host http://127.0.0.1:8000 --duration 60s --sample 2s --bound 64MiB/h
    """
    from sloguard.load.commands import soak as run

    sys.exit(run(**options))


@cli.command()
@click.option("--host", default=None, help=_HOST_HELP)
@click.option("--user-class", default="SARKUser", show_default=True,
              type=click.Choice(["SARKUser", "ReadHeavyUser", "CacheMissUser", "ComplexPolicyUser"]),
              help="Workload to send.")
@click.option("--start", type=click.FloatRange(min=0, min_open=True), default=100, show_default=True,
              help="First step, req/s.")
@click.option("--step", type=click.FloatRange(min=0, min_open=True), default=100, show_default=True,
              help="Rate added per step.")
@click.option("--max", "max_rate", type=float, default=5000, show_default=True, help="Last step at most.")
@click.option("--step-duration", default="10s", show_default=True, help="Measured time per step.")
@click.option("--p95-max", type=float, default=0.005, show_default=True,
              help="p95 bound in seconds (from intended send times).")
@click.option("--error-max", type=float, default=0.01, show_default=True, help="Error ratio bound.")
@click.option("--require", type=float, default=None, help="Exit 1 unless this rate (req/s) is sustainable.")
@click.option("--recovery", default=None, metavar="redis,policy-server",
              help="Instead of stepping: stop and restart these during load, time the recovery.")
@click.option("--stack", "stack_dir", default=None, type=click.Path(file_okay=False),
              help="Use a `sloguard stack up` directory (stack.json) [default for --recovery: a private one].")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=100, show_default=True,
              help="Recovery: load during the outage, req/s.")
@click.option("--outage", default="5s", show_default=True, help="Recovery: how long each dependency is down.")
@click.option("--output-dir", default="runs/stress", show_default=True, type=click.Path(file_okay=False),
              help="Where stress.json goes.")
@_load_common
@_friendly_errors
def stress(**options: Any) -> None:
    """Step an open-loop rate up until an SLO breaks; or time recovery from outages.

    \b
    Example:
      sloguard stress --host http://127.0.0.1:8000 --start 200 --step 200 --max 4000
      sloguard stress --recovery redis,policy-server --stack .sloguard/stack
    """
    from sloguard.load.commands import stress as run

    sys.exit(run(**options))


# ---- compare, baseline, report (sloguard/compare.py, sloguard/baseline.py, sloguard/report/) --------


@cli.command()
@click.option("--control", help="Control: latency CSV, check report, run.json, baseline or run dir "
                                "(with --csv: the control group's value).")
@click.option("--experiment", help="Experiment: as --control.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="One CSV holding both groups (needs --by).")
@click.option("--by", help="Column that splits --csv into groups, e.g. implementation.")
@click.option("--filter", "filters", multiple=True, metavar="COLUMN=VALUE", help="Keep only matching CSV rows.")
@click.option("--column", default="latency_seconds", show_default=True, help="CSV column to compare.")
@click.option("--max-regression", default="10%", show_default=True,
              help="Exit 1 when the experiment is significantly slower and this much cannot be excluded.")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.01, show_default=True,
              help="Significance level (two-sided; intervals are 1-alpha).")
@click.option("--min-samples", type=click.IntRange(2), default=None,
              help="Fewer per side -> inconclusive [default: 100 requests; 20 intervals with --prometheus].")
@click.option("--resamples", type=click.IntRange(100), default=4000, show_default=True, help="Bootstrap replicates.")
@click.option("--seed", type=int, default=20261126, show_default=True, help="Bootstrap RNG seed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the Comparison JSON here.")
@click.option("--prometheus", "prometheus_url", help="Two implementations of one run from Prometheus (with --run).")
@click.option("--run", "run_file", type=click.Path(dir_okay=False), help="run.json whose window --prometheus reads.")
@click.option("--step", default="10s", show_default=True,
              help="--prometheus: one sample (mean latency) per interval of this length.")
@click.option("--block", default=None, metavar="DURATION",
              help="Block bootstrap over send time (e.g. 10s): intervals that hold when latency comes in "
                   "episodes, as on shared machines. Needs the CSV's intended_send_time column.")
@click.option("--process-noise", default=None, metavar="FRACTION",
              help="Spread of a latency quantile between processes of one build, added to the intervals of "
                   f"sides served by different processes [default: {c.DEFAULT_PROCESS_NOISE:.1%}, measured "
                   "here by tests/benchmarks/calibrate_compare.py; 0 turns it off].")
@_friendly_errors
def compare(control: str | None, experiment: str | None, csv_path: str | None, by: str | None,
            filters: tuple[str, ...], column: str, max_regression: str, alpha: float, min_samples: int | None,
            resamples: int, seed: int, json_path: str | None, prometheus_url: str | None, run_file: str | None,
            step: str, block: str | None, process_noise: str | None) -> None:
    """Control vs experiment: quantiles, bootstrap ratio intervals, Mann-Whitney U, Hodges-Lehmann.

    Exit 0 = no regression beyond --max-regression, 1 = the experiment is significantly
    slower and a regression beyond it cannot be excluded, 2 = could not compare.

    \b
    Examples:
      sloguard compare --control runs/main/latencies.csv --experiment runs/pr/latencies.csv
      sloguard compare --control a.csv --experiment b.csv --filter implementation=rust --json cmp.json
      sloguard compare --csv runs/quick/latencies.csv --by implementation --control python --experiment rust
      sloguard compare --control main/sloguard-report.json --experiment pr/sloguard-report.json
      sloguard compare --prometheus http://127.0.0.1:9090 --run runs/baseline/run.json --step 10s
      sloguard compare --control runs/main --experiment runs/pr --filter implementation=rust --block 10s
    """
    import dataclasses
    from pathlib import Path

    from rich.console import Console

    from sloguard.compare import (
        PROMETHEUS_MIN_INTERVALS,
        CompareSettings,
        build_comparison,
        parse_filters,
        parse_fraction,
        parse_step,
    )
    from sloguard.report import comparison as out

    if min_samples is None:
        min_samples = PROMETHEUS_MIN_INTERVALS if prometheus_url else CompareSettings.min_samples
    settings = CompareSettings(max_regression=parse_fraction(max_regression), alpha=alpha,
                               min_samples=min_samples, resamples=resamples, seed=seed,
                               block_seconds=parse_step(block, option="--block") if block else None)
    if process_noise is not None:
        settings = dataclasses.replace(settings, process_noise=parse_fraction(process_noise, option="--process-noise"))
    result = build_comparison(control=control, experiment=experiment, csv_path=csv_path, by=by,
                              filters=parse_filters(filters), column=column, settings=settings,
                              prometheus=prometheus_url, run_file=run_file, step=parse_step(step))
    console = Console()
    out.render(result, console)
    if json_path:
        console.print(f"wrote {out.write(result, Path(json_path))}", style="dim")
    sys.exit(int(ExitCode.FAILED if result.gate_fails else ExitCode.PASS))


@cli.group()
def baseline() -> None:
    """Baselines for relative criteria (`sloguard check --baseline`).

    \b
    Example:
      sloguard baseline save runs/main -o baseline.json
    """


@baseline.command("save")
@click.argument("source", type=click.Path(exists=True))
@click.option("-o", "--output", default="baseline.json", show_default=True, type=click.Path(dir_okay=False),
              help="Baseline file to write.")
@_friendly_errors
def baseline_save(source: str, output: str) -> None:
    """Store a run's check report and raw latencies (per implementation) as a baseline.

    SOURCE is a run directory (latencies.csv, run.json, sloguard-report.json), a check report or a run.json.

    \b
    Example:
      sloguard baseline save runs/main -o baseline.json
    """
    from pathlib import Path

    from sloguard.baseline import save

    doc = save(source, Path(output))
    groups = ", ".join(f"{g}: {v['n']}" for g, v in doc["samples"].items()) or "none"
    click.echo(f"wrote {output}: {len(doc['values'])} values, latency samples {groups}")


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output-dir", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where performance-report.html and performance-report.md go.")
@_friendly_errors
def report(run_dirs: tuple[str, ...], output_dir: str) -> None:
    """Performance report (self-contained HTML with charts + Markdown summary) from run directories.

    Reads every run.json, latencies.csv, sloguard-report.json, stress.json, soak.json and rss.csv
    found in (or up to three levels below) the RUN_DIRs; a section with no data says so.

    \b
    Examples:
      sloguard report runs/baseline runs/stress runs/soak -o reports/
      sloguard demo --output-dir demo-out && sloguard report demo-out
    """
    from pathlib import Path

    from sloguard.report.html import MARKDOWN_FILE, write_report

    path = write_report([Path(d) for d in run_dirs], Path(output_dir))
    click.echo(f"wrote {path}")
    click.echo(f"wrote {path.parent / MARKDOWN_FILE}")

# (end of compare, baseline, report section)


# ---- rules, dashboards, import ----------------------------------------------------------------


def _report_drift(problems: list[str], generate_hint: str) -> None:
    """Print a diff summary and exit 1 when generated files drifted."""
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"sloguard: {len(problems)} file(s) differ from the spec; run `{generate_hint}`", err=True)
        sys.exit(int(ExitCode.FAILED))


@cli.group()
def rules() -> None:
    """Prometheus recording and alert rules generated from the spec.

    \b
    Example:
      sloguard rules generate -f sloguard.yaml -o alerts/
    """


@rules.command("generate")
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("-o", "--output-dir", default="alerts", show_default=True, type=click.Path(file_okay=False),
              help="Directory for <service>.rules.yml.")
@click.option("--windows", help="Burn-rate windows: a built-in name (google) or a YAML file; default: the spec's.")
@_friendly_errors
def rules_generate(spec_file: str, output_dir: str, windows: str | None) -> None:
    """Write Sloth-compatible SLI recording rules and burn-rate/threshold alerts.

    \b
    Example:
      sloguard rules generate -f sloguard.yaml -o alerts/
      sloguard rules generate --windows tests/data/rules/burn-windows-fast.yaml -o /tmp/fast-alerts
    """
    from pathlib import Path

    from sloguard import rules as rules_mod
    from sloguard.spec.loader import load_spec

    slo_set = load_spec(spec_file)
    files = rules_mod.output_files(slo_set, rules_mod.windows_for(slo_set, windows))
    for path in rules_mod.write_files(files, Path(output_dir)):
        click.echo(f"wrote {path}")


@rules.command("check")
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("-d", "--dir", "directory", default="alerts", show_default=True, type=click.Path(file_okay=False),
              help="Directory holding the committed rules.")
@click.option("--windows", help="Burn-rate windows: a built-in name (google) or a YAML file; default: the spec's.")
@_friendly_errors
def rules_check(spec_file: str, directory: str, windows: str | None) -> None:
    """Exit 1 with a diff summary when the committed rules differ from what the spec generates.

    \b
    Example:
      sloguard rules check -f sloguard.yaml -d alerts/
    """
    from pathlib import Path

    from sloguard import rules as rules_mod
    from sloguard.spec.loader import load_spec

    slo_set = load_spec(spec_file)
    files = rules_mod.output_files(slo_set, rules_mod.windows_for(slo_set, windows))
    problems = rules_mod.drift(files, Path(directory), pattern="*.rules.yml")
    _report_drift(problems, f"sloguard rules generate -f {spec_file} -o {directory}")
    click.echo(f"{directory}: up to date with {spec_file} ({', '.join(files)})")


@cli.group()
def dashboards() -> None:
    """Grafana dashboards (and provisioning) generated from the spec.

    \b
    Example:
      sloguard dashboards generate -f sloguard.yaml -o dashboards/
    """


@dashboards.command("generate")
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("-o", "--output-dir", default="dashboards", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the dashboard JSON and provisioning/.")
@click.option("--windows", help="Burn-rate windows (as for `rules generate`); sets the windows panels show.")
@_friendly_errors
def dashboards_generate(spec_file: str, output_dir: str, windows: str | None) -> None:
    """Write the SLO overview, Rust vs Python, load run and memory soak dashboards.

    \b
    Example:
      sloguard dashboards generate -f sloguard.yaml -o dashboards/
    """
    from pathlib import Path

    from sloguard import dashboards as dashboards_mod
    from sloguard.rules import windows_for, write_files
    from sloguard.spec.loader import load_spec

    slo_set = load_spec(spec_file)
    files = dashboards_mod.output_files(slo_set, windows_for(slo_set, windows))
    for path in write_files(files, Path(output_dir)):
        click.echo(f"wrote {path}")


@dashboards.command("check")
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="SLO spec (sloguard/v1).")
@click.option("-d", "--dir", "directory", default="dashboards", show_default=True,
              type=click.Path(file_okay=False), help="Directory holding the committed dashboards.")
@click.option("--windows", help="Burn-rate windows (as for `rules generate`).")
@_friendly_errors
def dashboards_check(spec_file: str, directory: str, windows: str | None) -> None:
    """Exit 1 with a diff summary when the committed dashboards differ from what the spec generates.

    \b
    Example:
      sloguard dashboards check -f sloguard.yaml -d dashboards/
    """
    from pathlib import Path

    from sloguard import dashboards as dashboards_mod
    from sloguard.rules import drift, windows_for
    from sloguard.spec.loader import load_spec

    slo_set = load_spec(spec_file)
    files = dashboards_mod.output_files(slo_set, windows_for(slo_set, windows))
    problems = drift(files, Path(directory), pattern="*.json")
    _report_drift(problems, f"sloguard dashboards generate -f {spec_file} -o {directory}")
    click.echo(f"{directory}: up to date with {spec_file} ({len(files)} files)")


@cli.group("import")
def import_group() -> None:
    """Convert OpenSLO or Sloth specs to a sloguard/v1 spec.

    \b
    Example:
      sloguard import sloth sloth-slos.yaml -o sloguard.yaml
    """


def _import(kind: str, source: str, output: str | None) -> None:
    from pathlib import Path

    from sloguard.spec import importers

    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise SloguardError(f"{source}: cannot read ({exc.strerror or exc})") from None
    convert = importers.import_openslo if kind == "openslo" else importers.import_sloth
    spec = convert(text, source)
    if output:
        Path(output).write_text(spec, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(spec, nl=False)


@import_group.command("openslo")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here instead of stdout.")
@_friendly_errors
def import_openslo(source: str, output: str | None) -> None:
    """Convert OpenSLO v1 SLO (and SLI) documents to a sloguard/v1 spec.

    \b
    Example:
      sloguard import openslo openslo.yaml -o sloguard.yaml
    """
    _import("openslo", source, output)


@import_group.command("sloth")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the spec here instead of stdout.")
@_friendly_errors
def import_sloth(source: str, output: str | None) -> None:
    """Convert a Sloth prometheus/v1 spec to a sloguard/v1 spec.

    \b
    Example:
      sloguard import sloth sloth.yaml -o sloguard.yaml
    """
    _import("sloth", source, output)

# (end of rules, dashboards, import section)
