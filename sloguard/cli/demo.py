"""`sloguard demo` and its parts: the reference SARK service, the policy server, tokens."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sloguard import conventions as c

ROLLOUT_PLAN = "plan"  # the value of a bare --rollout: run the compressed rollout plan

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


@click.group(invoke_without_command=True)
@click.option("-f", "--spec", "spec_file", default="sloguard.yaml", show_default=True, help="Spec to judge the run.")
@click.option("--profile", default="quick", show_default=True, help="Load profile (loadgen/profiles.yaml).")
@click.option("--rollout", "rollout", default="50", show_default=True, is_flag=False, flag_value=ROLLOUT_PLAN,
              metavar="[PERCENT]", help="Percent of users on the Rust path; without a value: run SARK's rollout "
                                        "plan compressed to minutes (docs/rollout.md#the-demo).")
@click.option("--duration", help="Override the profile's steady-state duration, e.g. 60s.")
@click.option("--inject", "faults", multiple=True, metavar="KIND=IMPL:AMOUNT",
              help="Inject a fault: latency=rust:20ms, errors=python:5%, leak=rust:64KiB (repeatable).")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Keep the run, reports and logs here.")
@click.pass_context
def demo(ctx: click.Context, spec_file: str, profile: str, rollout: str, duration: str | None,
         faults: tuple[str, ...], output_dir: str | None) -> None:
    """Run the demo: stack up, load, check, reports, stack down; exit code = the check's.

    Without a subcommand: starts the embedded stack, drives the `quick` profile at a
    50/50 Rust/Python rollout, judges the run with sloguard.yaml and writes the reports.
    The subcommands run the reference SARK service's parts one by one.

    \b
    Examples:
      sloguard demo
      sloguard demo --inject latency=rust:20ms --output-dir runs/demo-latency
      sloguard demo --rollout --inject errors=rust:2% --output-dir runs/demo-rollout
      sloguard demo policy-server --port 8181 &
      sloguard demo serve --port 8000 --opa-url http://127.0.0.1:8181 --rollout 50
      curl -H "Authorization: Bearer $(sloguard demo token --user alice --roles analyst --tenant acme)" \\
        -d '{"action": "gateway:tool:invoke", "server_name": "postgres-mcp",
             "tool_name": "execute_query", "parameters": {"query": "SELECT 1"}}' \\
        http://127.0.0.1:8000/api/v1/gateway/authorize
    """
    if ctx.invoked_subcommand is not None:
        return
    from sloguard.report.console import make_console

    if rollout == ROLLOUT_PLAN:
        from sloguard.demo_rollout import RolloutDemoOptions, run_rollout_demo

        plan_options = RolloutDemoOptions(spec_file=spec_file, faults=faults,
                                          output_dir=Path(output_dir) if output_dir else None)
        sys.exit(int(run_rollout_demo(plan_options, make_console(), make_console(stderr=True))))
    from sloguard.demo_pipeline import DemoOptions, run_demo

    options = DemoOptions(spec_file=spec_file, profile=profile, rollout=_percent(rollout), faults=faults,
                          duration=duration, output_dir=Path(output_dir) if output_dir else None)
    sys.exit(int(run_demo(options, make_console())))


def _percent(text: str) -> float:
    """--rollout PERCENT: a number within 0-100, as click's FloatRange read it before the option took no value."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 100.0:
        raise click.BadParameter(f"{text!r} is not a percent within 0-100 (or give no value to run the rollout plan)",
                                 param_hint="'--rollout'")
    return value


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
def demo_serve(host: str, port: int, opa_url: str, redis_url: str, policies: str | None, decision: str,
               rollout: float | None, rollout_rust_opa: float | None, rollout_rust_cache: float | None,
               admin_token: str | None, secret: str | None, instrumentation: str, inject_latency: tuple[str, ...],
               inject_errors: tuple[str, ...], inject_leak: tuple[str, ...], inject_panics: tuple[str, ...]) -> None:
    """Run the reference SARK service (Rust and Python decision paths, /metrics, /admin).

    A --host other than loopback needs a --secret and an --admin-token of your own: the
    defaults are published, so the service refuses them there (exit 2).

    \b
    Example:
      sloguard demo serve --port 8000 --opa-url http://127.0.0.1:8181 \\
        --redis-url redis://127.0.0.1:6379/0 --rollout 50 --inject-latency rust:20ms
    """
    from sloguard.demo.app import ServiceSettings, rollout_percentages, run_service
    from sloguard.demo.faults import Faults
    from sloguard.demo.tokens import admin_token_from_env, require_private_defaults, secret_from_env

    require_private_defaults(host, secret_from_env(secret), admin_token_from_env(admin_token))
    rust_opa, rust_cache = rollout_percentages(rollout, rollout_rust_opa, rollout_rust_cache)
    faults = Faults.from_flags(latency=inject_latency, errors=inject_errors, leak=inject_leak, panics=inject_panics)
    # An empty --opa-url or --redis-url: the Python path has no policy server, or no Redis cache.
    run_service(ServiceSettings(
        host=host, port=port, opa_url=opa_url or None, redis_url=redis_url or None, policies=policies,
        decision=decision or c.DEMO_DEFAULT_DECISION, rollout_rust_opa=rust_opa, rollout_rust_cache=rust_cache,
        admin_token=admin_token, secret=secret, instrumentation=instrumentation or "fast", faults=faults,
    ))  # fmt: skip


@demo.command("policy-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=c.DEMO_DEFAULT_POLICY_PORT, show_default=True, type=int,
              help="Port to listen on (OPA's).")
@click.option("--policies", type=click.Path(file_okay=False), default=None,
              help="Rego bundle directory; default: the bundled SARK policy.")
@click.option("--decision", default=c.DEMO_DEFAULT_DECISION, show_default=True,
              help="Decision checked to exist at start-up.")
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
def demo_token(user: str, roles: str, tenant: str, ttl: int, secret: str | None) -> None:
    """Print a bearer token for the reference service.

    \b
    Example:
      sloguard demo token --user alice --roles analyst --tenant acme
    """
    from sloguard.demo.tokens import issue_token

    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    click.echo(issue_token(user, role_list, tenant, secret=secret, ttl=ttl))
