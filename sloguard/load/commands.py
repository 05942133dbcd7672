"""The `sloguard load`, `soak` and `stress` commands behind the CLI: typed options in, summary out, exit code.

The CLI builds each command's typed options (LoadOptions, ABOptions, SoakOptions,
StressOptions, RecoveryOptions) with the helpers here, which read what its options
point at: loadgen/profiles.yaml and a `sloguard stack up` directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sloguard import runs
from sloguard.conventions import EXIT_INTERRUPTED, ExitCode
from sloguard.durations import iso, parse_duration
from sloguard.errors import UsageError
from sloguard.load.ab import ABOptions, run_ab
from sloguard.load.procs import Target
from sloguard.load.profiles import Profile, get_profile, load_profiles
from sloguard.load.run import LoadOptions, run_load
from sloguard.load.soak import SoakOptions, run_soak
from sloguard.load.stress import RecoveryOptions, StressOptions, run_recovery, run_steps
from sloguard.load.target import check_host, loadgen_dir
from sloguard.report.console import make_console, make_table
from sloguard.stack import last_scrape, wait_for_scrape
from sloguard.stackstate import StackError, read_state

# ---- from options to typed options ------------------------------------------------------------


def seconds(text: str, option: str, *, zero_ok: bool = False) -> float:
    """A positive (or, with zero_ok, non-negative) duration option such as 30s or 5m, in seconds."""
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise UsageError(f"{option}: must be a positive duration such as 30s or 5m")
    return value


def resolve_profile(name: str, loadgen: str | None, scale: float, *, rate: float | None = None,
                    duration: str | None = None, warmup: str | None = None) -> tuple[Profile, Path]:
    """The named profile from loadgen/profiles.yaml, scaled, with command-line overrides; and that directory."""
    if scale <= 0:
        raise UsageError("--scale must be greater than 0")
    directory = loadgen_dir(loadgen)
    profile = get_profile(directory / "profiles.yaml", name).scaled(scale)
    warm = seconds(warmup, "--warmup", zero_ok=True) if warmup is not None else None
    window = seconds(duration, "--duration") if duration is not None else None
    return profile.with_overrides(rate=rate, duration=window, warmup=warm), directory


def target_from(host: str | None, stack_dir: str | None, admin_token: str | None, allow_remote: bool
                ) -> tuple[str, str | None]:
    """The target URL (and admin token) from --host, or from a `sloguard stack up` directory."""
    if stack_dir:
        stack = Target.from_stack(Path(stack_dir))
        if host and check_host(host, allow_remote=allow_remote) != stack.url:
            raise UsageError(f"--host {host} is not the service of --stack {stack_dir} ({stack.url})")
        # The stack's service takes only the token it was started with: $SLOGUARD_DEMO_ADMIN_TOKEN,
        # set for some other service, must not replace it.
        return stack.url, stack.admin_token
    if not host:
        raise UsageError("give --host URL (or --stack DIR of `sloguard stack up`)")
    return check_host(host, allow_remote=allow_remote), admin_token


def require_remote_allowed(remote_workers: int, allow_remote: bool) -> None:
    if remote_workers and not allow_remote:
        raise UsageError("--remote-workers send load from other machines: the target cannot be loopback; "
                         "give --allow-remote and a --host they can reach")


def recovery_dependencies(text: str) -> tuple[str, ...]:
    """--recovery redis,policy-server."""
    return tuple(d.strip() for d in text.split(",") if d.strip())


# ---- the commands -----------------------------------------------------------------------------


def load_run(options: LoadOptions, *, stack_dir: str | None = None) -> int:
    doc = run_load(options) if stack_dir is None else run_between_scrapes(options, Path(stack_dir))
    out = options.output_dir
    console = make_console()
    table = make_table(f"load {options.profile.name} ({doc['mode']}) → {options.host}",
                       ("window", "requested", "achieved", "requests", "errors", "p50", "p95", "p99", "rust %"),
                       justify="right")
    lat = doc["latency_seconds"]
    table.add_row(
        f"{doc['window']['seconds']:.1f} s", f"{doc['rate']['requested']:,.0f}/s",
        f"{doc['rate']['achieved'] or 0:,.1f}/s", f"{doc['requests']['sent']:,}",
        f"{doc['errors']['total']:,} ({doc['errors']['ratio']:.2%})", _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]),
        "-" if doc["rollout"]["observed_percent_rust"] is None else f"{doc['rollout']['observed_percent_rust']:.1f}",
    )  # fmt: skip
    console.print(table)
    console.print(f"wrote {runs.run_json(out)} (check it with: sloguard check --run {runs.run_json(out)})")
    if doc["interrupted"]:
        console.print("interrupted: partial results and the window so far were written")
        return EXIT_INTERRUPTED
    return int(ExitCode.PASS)


def load_ab(options: ABOptions) -> int:
    docs = run_ab(options)
    out, targets = options.output_dir, options.targets
    console = make_console()
    table = make_table(f"load ab {options.profile.name} (open loop, interleaved)",
                       ("side", "targets", "window", "achieved", "requests", "errors", "p50", "p95", "p99"),
                       justify="right")
    for role, doc in docs.items():
        lat = doc["latency_seconds"]
        table.add_row(role, " ".join(targets[role]), f"{doc['window']['seconds']:.1f} s",
                      f"{doc['rate']['achieved'] or 0:,.1f}/s", f"{doc['requests']['sent']:,}",
                      f"{doc['errors']['total']:,} ({doc['errors']['ratio']:.2%})",
                      _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]))  # fmt: skip
    console.print(table)
    console.print(f"wrote {out / 'control'} and {out / 'experiment'}; compare them with:\n"
                  f"  sloguard compare --control {out / 'control'} --experiment {out / 'experiment'}")
    if any(doc["interrupted"] for doc in docs.values()):
        console.print("interrupted: partial results and the window so far were written")
        return EXIT_INTERRUPTED
    return int(ExitCode.PASS)


def list_profiles(loadgen: str | None) -> None:
    directory = loadgen_dir(loadgen)
    table = make_table(f"{directory / 'profiles.yaml'}",
                       ("profile", "user class", "users", "spawn/s", "rate", "warm-up", "duration", "rollout"))
    for p in load_profiles(directory / "profiles.yaml").values():
        rollout = ", ".join(f"{k.removeprefix('rust_')} {v:g}%" for k, v in p.rollout.items()) or "-"
        table.add_row(p.name, p.user_class, str(p.users), f"{p.spawn_rate:g}", f"{p.rate:g}/s",
                      f"{p.warmup:g}s", f"{p.duration:g}s", rollout)
    make_console().print(table)


def soak(options: SoakOptions) -> int:
    doc = run_soak(options)
    m = doc["memory"]
    low, high = m["ci95_bytes_per_hour"]
    console = make_console()
    console.print(
        f"soak {doc['window']['seconds']:.0f} s at {options.profile.rate:g} req/s on pid {doc['pid']}: RSS "
        f"{_mib(m['rss_start_bytes'])} → {_mib(m['rss_end_bytes'])}; growth {_mib(m['growth_bytes_per_hour'])}/h "
        f"(95% CI {_mib(low)} to {_mib(high)}/h; halves {_mib(m['halves_growth_bytes_per_hour'])}/h); "
        f"bound {_mib(m['bound_bytes_per_hour'])}/h: {m['verdict'].upper()}"
    )
    console.print(f"wrote {options.output_dir / runs.SOAK_JSON} and {options.output_dir / runs.RSS_CSV}")
    if doc["interrupted"]:
        return EXIT_INTERRUPTED
    return int(ExitCode.FAILED if m["verdict"] == "growth" else ExitCode.PASS)


def stress_steps(options: StressOptions, *, require: float | None) -> int:
    """Stepped rates until a bound breaks; exit 1 when --require is not sustainable."""
    doc = run_steps(options)
    console = make_console()
    table = make_table(f"stress → {options.host}", ("rate", "achieved", "errors", "p50", "p95", "held", "why not"),
                       justify="right")
    for s in doc["steps"]:
        table.add_row(f"{s['rate']:g}/s", f"{s['achieved_rate']:,.1f}/s", f"{s['error_ratio']:.2%}",
                      _ms(s["p50_seconds"]), _ms(s["p95_seconds"]), "yes" if s["held"] else "no",
                      "; ".join(s["reasons"]))
    console.print(table)
    sustainable = doc["sustainable_rate"]
    console.print(f"last sustainable rate: {'none' if sustainable is None else f'{sustainable:g} req/s'}"
                  + ("" if doc["breaking_rate"] is None else f"; broke at {doc['breaking_rate']:g} req/s")
                  + (" (reached --max without breaking)" if doc["max_rate_reached"] else ""))
    console.print(f"wrote {options.output_dir / runs.STRESS_JSON}")
    if doc["interrupted"]:
        return EXIT_INTERRUPTED
    if require is not None and (sustainable is None or sustainable < require):
        return int(ExitCode.FAILED)
    return int(ExitCode.PASS)


def stress_recovery(recovery: RecoveryOptions, *, stack_dir: str | None, host: str | None, allow_remote: bool,
                    user_class: str, output_dir: Path, token_secret: str | None, progress: bool) -> int:
    """Stop and restart each dependency of a stack's (or a private) target under load; exit 1 if one never recovers.

    The traffic's options are given one by one, not as StressOptions: its host is the
    target's, known only once the target runs.
    """
    target = Target.from_stack(Path(stack_dir)) if stack_dir else Target.start(output_dir / "target")
    try:
        if host and check_host(host, allow_remote=allow_remote) != target.url:
            raise UsageError("--recovery runs against the stack it restarts: drop --host")
        traffic = StressOptions(host=target.url, user_class=user_class, output_dir=output_dir,
                                token_secret=token_secret, progress=progress)
        doc = run_recovery(target, recovery, traffic)
    finally:
        target.stop()
    console = make_console()
    failed = False
    for s in doc["recovery"]:
        ratio = "-" if s["outage_error_ratio"] is None else f"{s['outage_error_ratio']:.1%}"
        took = f"{s['recovery_seconds']:.1f} s" if s["recovered"] else "NOT recovered"
        console.print(f"{s['dependency']}: error ratio during the outage {ratio}; back under "
                      f"{recovery.error_max:.0%} {took} after the restart")
        failed |= not s["recovered"]
    console.print(f"wrote {output_dir / runs.STRESS_JSON}")
    return int(ExitCode.FAILED if failed else ExitCode.PASS)


def run_between_scrapes(options: LoadOptions, stack_dir: Path) -> dict[str, Any]:
    """A load run on a stack: its window opens after Prometheus's first scrape and it returns after one past its end."""
    # So `check --run` finds samples at both edges of the window, as in the demo (stack.wait_for_scrape: why).
    state = read_state(stack_dir)
    if state is None:
        return run_load(options)
    console = make_console()
    if last_scrape(state) is None:
        console.print("waiting for Prometheus's first scrape of the service", style="dim")
        wait_for_scrape(state, 0.0)
    doc = run_load(options)
    if doc["interrupted"]:
        return doc
    end = doc["window"]["end"]
    console.print(f"waiting for Prometheus to scrape past the window's end ({iso(end)})", style="dim")
    try:
        wait_for_scrape(state, end)
    except StackError as exc:
        # The run itself is whole; only the check of its window would read a short edge, and says so.
        console.print(f"warning: {exc}", style="yellow", markup=False, highlight=False)
    return doc


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value * 1000:.2f} ms"


def _mib(value: float) -> str:
    return f"{value / 1048576:,.2f} MiB"
