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
@_friendly_errors
def check(spec_file: str, prometheus_url: str, last: str | None, start: str | None, end: str | None,
          run_file: str | None, formats: str, output_dir: str, timeout: float, retries: int) -> None:
    """Judge the SLOs of a spec against Prometheus over a window.

    Exit 0 = pass (warnings allowed), 1 = an objective failed (no_data counts as
    failed under noData: fail), 2 = could not evaluate.

    \b
    Examples:
      sloguard check --prometheus http://127.0.0.1:9090 --last 10m
      sloguard check -f sloguard.yaml --prometheus $PROM --run runs/quick/run.json \\
          --format table,json,junit,markdown --output-dir reports/
    """
    from pathlib import Path

    from rich.console import Console

    from sloguard.check import CheckOptions, parse_formats, resolve_window, run_check

    options = CheckOptions(
        spec_file=spec_file,
        prometheus_url=prometheus_url,
        formats=parse_formats(formats),
        output_dir=Path(output_dir),
        window=resolve_window(last=last, start=start, end=end, run=run_file),
        timeout=timeout,
        retries=retries,
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

from sloguard import conventions as _democ  # noqa: E402  (sections are appended to this file)


@cli.group(invoke_without_command=True)
@click.pass_context
def demo(ctx: click.Context) -> None:
    """The reference SARK service, its OPA-compatible policy server and bearer tokens.

    \b
    Example:
      sloguard demo policy-server --port 8181 &
      sloguard demo serve --port 8000 --opa-url http://127.0.0.1:8181 --rollout 50
      curl -H "Authorization: Bearer $(sloguard demo token --user alice --roles analyst --tenant acme)" \\
        -d '{"action": "gateway:tool:invoke", "server_name": "postgres-mcp",
             "tool_name": "execute_query", "parameters": {"query": "SELECT 1"}}' \\
        http://127.0.0.1:8000/api/v1/gateway/authorize
    """
    # A plain `sloguard demo` prints this help for now (the one-command demo comes later).
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@demo.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=_democ.DEMO_DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
@click.option("--opa-url", default=f"http://127.0.0.1:{_democ.DEMO_DEFAULT_POLICY_PORT}", show_default=True,
              help="Policy server (or real OPA) of the Python path.")
@click.option("--redis-url", default=_democ.DEMO_DEFAULT_REDIS_URL, show_default=True,
              help="Redis of the Python path's decision cache.")
@click.option("--policies", type=click.Path(file_okay=False), default=None,
              help="Rego bundle directory (*.rego, *.json data); default: the bundled SARK policy.")
@click.option("--decision", default=_democ.DEMO_DEFAULT_DECISION, show_default=True,
              help="Decision document to evaluate.")
@click.option("--rollout", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users on Rust for both flags (overridden by the per-flag options).")
@click.option("--rollout-rust-opa", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users evaluated by the Rust engine [default: 50].")
@click.option("--rollout-rust-cache", type=click.FloatRange(0, 100), default=None,
              help="Percentage of users cached in the Rust cache [default: 50].")
@click.option("--admin-token", envvar=_democ.ENV_DEMO_ADMIN_TOKEN, default=None,
              help="Bearer token of the /admin API [env SLOGUARD_DEMO_ADMIN_TOKEN; dev default].")
@click.option("--secret", envvar=_democ.ENV_DEMO_SECRET, default=None,
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
@click.option("--port", default=_democ.DEMO_DEFAULT_POLICY_PORT, show_default=True, type=int,
              help="Port to listen on (OPA's).")
@click.option("--policies", type=click.Path(file_okay=False), default=None,
              help="Rego bundle directory; default: the bundled SARK policy.")
@click.option("--decision", default=_democ.DEMO_DEFAULT_DECISION, show_default=True,
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
@click.option("--secret", envvar=_democ.ENV_DEMO_SECRET, default=None,
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

from sloguard import conventions as _loadc  # noqa: E402  (sections are appended to this file)

_HOST_HELP = "Base URL of the reference service (loopback only unless --allow-remote)."


def _load_common(func: F) -> F:
    """Options every load-generating command shares."""
    for decorator in reversed((
        click.option("--allow-remote", is_flag=True,
                     help="Allow a target that is not loopback (only for hosts you own)."),
        click.option("--token-secret", envvar=_loadc.ENV_DEMO_SECRET, default=None,
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
@click.option("--host", required=True, help=_HOST_HELP)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Requests per second (overrides the profile).")
@click.option("--duration", default=None, help="Steady-state window, e.g. 60s, 10m (overrides the profile).")
@click.option("--warmup", default=None, help="Warm-up before the window, e.g. 10s (overrides the profile).")
@click.option("--open-loop", is_flag=True,
              help="Constant arrival rate: send on schedule, latency from the intended send time.")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Locust distributed mode: a master plus N local worker processes.")
@click.option("--scale", type=float, default=1.0, show_default=True, envvar=_loadc.ENV_LOAD_SCALE,
              help="Shrink (or grow) users, spawn rate and rate [env SLOGUARD_LOAD_SCALE].")
@click.option("--output-dir", default="runs/latest", show_default=True, type=click.Path(file_okay=False),
              help="Where run.json, latencies.csv and Locust's CSV and HTML go.")
@click.option("--loadgen-dir", envvar=_loadc.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
              help="Directory with locustfile.py and profiles.yaml [default: the checkout's loadgen/].")
@click.option("--admin-token", envvar=_loadc.ENV_DEMO_ADMIN_TOKEN, default=None,
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
    """
    from sloguard.load.commands import load_run as run

    options["loadgen"] = options.pop("loadgen_dir")
    sys.exit(run(profile_name=profile, **options))


@load.command("profiles")
@click.option("--loadgen-dir", envvar=_loadc.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
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
@click.option("--host", required=True, help=_HOST_HELP)
@click.option("--duration", required=True, help="Steady load for this long, e.g. 24h (CI: 60s).")
@click.option("--sample", required=True, help="RSS sampling interval, e.g. 5m (CI: 2s).")
@click.option("--profile", "profile_name", default="baseline", show_default=True,
              help="Profile giving the rate, workload and warm-up.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Requests per second.")
@click.option("--warmup", default=None, help="Warm-up before sampling starts (overrides the profile).")
@click.option("--pid", type=int, default=None, help="Target process [default: whoever listens on --host's port].")
@click.option("--bound", default="1MiB/h", show_default=True, help="Growth that fails the soak, e.g. 512KiB/h.")
@click.option("--scale", type=float, default=1.0, show_default=True, envvar=_loadc.ENV_LOAD_SCALE,
              help="Shrink the profile's rate [env SLOGUARD_LOAD_SCALE].")
@click.option("--output-dir", default="runs/soak", show_default=True, type=click.Path(file_okay=False),
              help="Where soak.json, rss.csv and latencies.csv go.")
@click.option("--loadgen-dir", "loadgen", envvar=_loadc.ENV_LOADGEN_DIR, default=None,
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
