"""`sloguard load run|ab|profiles`, `sloguard soak`, `sloguard stress`: traffic against SARK."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sloguard import conventions as c

# Each command imports the modules it runs inside its body: `sloguard --help` then loads click and the
# cli package only (tests/unit/test_spec_loader.py holds it to that).


F = TypeVar("F", bound=Callable[..., Any])



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


@click.group()
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
              help="Admin token to apply the profile's rollout [env SLOGUARD_DEMO_ADMIN_TOKEN; "
                   "with --stack: the stack's own].")
@click.option("--keep-rollout", is_flag=True, help="Leave the service's rollout split as it is.")
@_load_common
def load_run(profile: str, host: str | None, stack_dir: str | None, rate: float | None, duration: str | None,
             warmup: str | None, open_loop: bool, workers: int, remote_workers: int, master_bind: str,
             master_port: int | None, scale: float, output_dir: str, loadgen_dir: str | None,
             admin_token: str | None, keep_rollout: bool, token_secret: str | None, allow_remote: bool,
             progress: bool) -> None:
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
    from sloguard.load.commands import require_remote_allowed, resolve_profile, target_from
    from sloguard.load.run import LoadOptions

    url, token = target_from(host, stack_dir, admin_token, allow_remote)
    require_remote_allowed(remote_workers, allow_remote)
    chosen, directory = resolve_profile(profile, loadgen_dir, scale, rate=rate, duration=duration, warmup=warmup)
    sys.exit(run(LoadOptions(
        profile=chosen, host=url, output_dir=Path(output_dir), locustfile=directory / "locustfile.py",
        open_loop=open_loop, workers=workers, remote_workers=remote_workers, master_bind=master_bind,
        master_port=master_port, scale=scale, admin_token=token, keep_rollout=keep_rollout,
        token_secret=token_secret, progress=progress,
    ), stack_dir=stack_dir))  # fmt: skip


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
def load_ab(profile: str, control: tuple[str, ...], experiment: tuple[str, ...], rate: float | None,
            duration: str | None, warmup: str | None, scale: float, output_dir: str, loadgen_dir: str | None,
            admin_token: str | None, keep_rollout: bool, token_secret: str | None, allow_remote: bool,
            progress: bool) -> None:
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
    from sloguard.load.ab import ABOptions
    from sloguard.load.commands import load_ab as run
    from sloguard.load.commands import resolve_profile
    from sloguard.load.target import check_host

    targets = {"control": [check_host(url, allow_remote=allow_remote) for url in control],
               "experiment": [check_host(url, allow_remote=allow_remote) for url in experiment]}  # fmt: skip
    chosen, _ = resolve_profile(profile, loadgen_dir, scale, rate=rate, duration=duration, warmup=warmup)
    sys.exit(run(ABOptions(profile=chosen, targets=targets, output_dir=Path(output_dir), scale=scale,
                           admin_token=admin_token, keep_rollout=keep_rollout, token_secret=token_secret,
                           progress=progress)))


@load.command("profiles")
@click.option("--loadgen-dir", envvar=c.ENV_LOADGEN_DIR, default=None, type=click.Path(file_okay=False),
              help="Directory with profiles.yaml [default: the checkout's loadgen/].")
def load_profiles(loadgen_dir: str | None) -> None:
    """List the load profiles of loadgen/profiles.yaml.

    \b
    Example:
      sloguard load profiles
    """
    from sloguard.load.commands import list_profiles

    list_profiles(loadgen_dir)


@click.command()
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
def soak(host: str | None, stack_dir: str | None, duration: str, sample: str, profile_name: str,
         rate: float | None, warmup: str | None, pid: int | None, bound: str, scale: float, output_dir: str,
         loadgen: str | None, token_secret: str | None, allow_remote: bool, progress: bool) -> None:
    """Steady load while sampling the target's RSS; fits growth per hour with a 95% CI.

    Exit 1 when the whole confidence interval lies above --bound (memory grows).

    \b
    Example:
      sloguard soak --host http://127.0.0.1:8000 --duration 24h --sample 5m
      sloguard soak --host http://127.0.0.1:8000 --duration 60s --sample 2s --bound 64MiB/h
    """
    from sloguard.load.commands import resolve_profile, seconds, target_from
    from sloguard.load.commands import soak as run
    from sloguard.load.soak import SoakOptions, parse_growth_bound

    url, _ = target_from(host, stack_dir, None, allow_remote)
    chosen, _ = resolve_profile(profile_name, loadgen, scale, rate=rate, warmup=warmup)
    sys.exit(run(SoakOptions(profile=chosen, host=url, duration=seconds(duration, "--duration"),
                             sample=seconds(sample, "--sample"), bound=parse_growth_bound(bound),
                             output_dir=Path(output_dir), pid=pid, token_secret=token_secret, progress=progress)))


@click.command()
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
def stress(host: str | None, user_class: str, start: float, step: float, max_rate: float, step_duration: str,
           p95_max: float, error_max: float, require: float | None, recovery: str | None, stack_dir: str | None,
           rate: float, outage: str, output_dir: str, token_secret: str | None, allow_remote: bool,
           progress: bool) -> None:
    """Step an open-loop rate up until an SLO breaks; or time recovery from outages.

    \b
    Example:
      sloguard stress --host http://127.0.0.1:8000 --start 200 --step 200 --max 4000
      sloguard stress --recovery redis,policy-server --stack .sloguard/stack
    """
    from sloguard.load.commands import recovery_dependencies, seconds, stress_recovery, stress_steps, target_from
    from sloguard.load.stress import RecoveryOptions, StressOptions

    step_seconds = seconds(step_duration, "--step-duration")
    if recovery:
        sys.exit(stress_recovery(
            RecoveryOptions(recovery_dependencies(recovery), rate=rate, outage=seconds(outage, "--outage"),
                            error_max=error_max),
            stack_dir=stack_dir, host=host, allow_remote=allow_remote, user_class=user_class,
            output_dir=Path(output_dir), token_secret=token_secret, progress=progress,
        ))  # fmt: skip
    url, _ = target_from(host, stack_dir, None, allow_remote)
    sys.exit(stress_steps(StressOptions(
        host=url, user_class=user_class, start_rate=start, step_rate=step, max_rate=max_rate,
        step_duration=step_seconds, p95_max=p95_max, error_max=error_max, output_dir=Path(output_dir),
        token_secret=token_secret, progress=progress,
    ), require=require))  # fmt: skip
