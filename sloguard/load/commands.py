"""The `sloguard load`, `soak` and `stress` commands behind the CLI: options in, summary out, exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sloguard.conventions import EXIT_INTERRUPTED, ExitCode
from sloguard.durations import parse_duration
from sloguard.errors import UsageError
from sloguard.load.profiles import Profile, get_profile, load_profiles
from sloguard.load.target import check_host, loadgen_dir


def seconds(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if value <= 0:
        raise UsageError(f"{option}: must be a positive duration such as 30s or 5m")
    return value


def resolve_profile(name: str, loadgen: str | None, scale: float, *, rate: float | None = None,
                    duration: str | None = None, warmup: str | None = None) -> tuple[Profile, Path]:
    """The named profile from loadgen/profiles.yaml, scaled, with command-line overrides."""
    if scale <= 0:
        raise UsageError("--scale must be greater than 0")
    directory = loadgen_dir(loadgen)
    profile = get_profile(directory / "profiles.yaml", name).scaled(scale)
    warm = parse_duration(warmup) if warmup is not None else None
    profile = profile.with_overrides(rate=rate, duration=seconds(duration, "--duration"), warmup=warm)
    return profile, directory


def target_from(host: str | None, stack_dir: str | None, admin_token: str | None, allow_remote: bool
                ) -> tuple[str, str | None]:
    """The target URL (and admin token) from --host, or from a `sloguard stack up` directory."""
    if stack_dir:
        from sloguard.load.procs import Target

        stack = Target.from_stack(Path(stack_dir))
        if host and check_host(host, allow_remote=allow_remote) != stack.url:
            raise UsageError(f"--host {host} is not the service of --stack {stack_dir} ({stack.url})")
        return stack.url, admin_token or stack.admin_token
    if not host:
        raise UsageError("give --host URL (or --stack DIR of `sloguard stack up`)")
    return check_host(host, allow_remote=allow_remote), admin_token


def load_run(*, profile_name: str, host: str | None, stack_dir: str | None, rate: float | None,
             duration: str | None, warmup: str | None, open_loop: bool, workers: int, remote_workers: int,
             master_bind: str, master_port: int | None, scale: float,
             output_dir: str, loadgen: str | None,
             admin_token: str | None, keep_rollout: bool, token_secret: str | None, allow_remote: bool,
             progress: bool) -> int:
    from sloguard.load.run import RUN_FILE, LoadOptions, run_load

    url, admin_token = target_from(host, stack_dir, admin_token, allow_remote)
    if remote_workers and not allow_remote:
        raise UsageError("--remote-workers send load from other machines: the target cannot be loopback; "
                         "give --allow-remote and a --host they can reach")
    profile, directory = resolve_profile(profile_name, loadgen, scale, rate=rate, duration=duration, warmup=warmup)
    out = Path(output_dir)
    doc = run_load(LoadOptions(
        profile=profile, host=url, output_dir=out, locustfile=directory / "locustfile.py", open_loop=open_loop,
        workers=workers, remote_workers=remote_workers, master_bind=master_bind, master_port=master_port,
        scale=scale, admin_token=admin_token, keep_rollout=keep_rollout,
        token_secret=token_secret, progress=progress,
    ))  # fmt: skip
    console = Console()
    table = Table(title=f"load {profile.name} ({doc['mode']}) → {url}", title_justify="left")
    for column in ("window", "requested", "achieved", "requests", "errors", "p50", "p95", "p99", "rust %"):
        table.add_column(column, justify="right")
    lat = doc["latency_seconds"]
    table.add_row(
        f"{doc['window']['seconds']:.1f} s", f"{doc['rate']['requested']:,.0f}/s",
        f"{doc['rate']['achieved'] or 0:,.1f}/s", f"{doc['requests']['sent']:,}",
        f"{doc['errors']['total']:,} ({doc['errors']['ratio']:.2%})", _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]),
        "-" if doc["rollout"]["observed_percent_rust"] is None else f"{doc['rollout']['observed_percent_rust']:.1f}",
    )  # fmt: skip
    console.print(table)
    console.print(f"wrote {out / RUN_FILE} (check it with: sloguard check --run {out / RUN_FILE})")
    if doc["interrupted"]:
        console.print("interrupted: partial results and the window so far were written")
        return EXIT_INTERRUPTED
    return int(ExitCode.PASS)


def load_ab(*, profile_name: str, control: tuple[str, ...], experiment: tuple[str, ...], rate: float | None,
            duration: str | None, warmup: str | None, scale: float, output_dir: str, loadgen: str | None,
            admin_token: str | None, keep_rollout: bool, token_secret: str | None, allow_remote: bool,
            progress: bool) -> int:
    from sloguard.load.ab import ABOptions, run_ab

    targets = {"control": [check_host(url, allow_remote=allow_remote) for url in control],
               "experiment": [check_host(url, allow_remote=allow_remote) for url in experiment]}  # fmt: skip
    profile, _ = resolve_profile(profile_name, loadgen, scale, rate=rate, duration=duration, warmup=warmup)
    out = Path(output_dir)
    docs = run_ab(ABOptions(profile=profile, targets=targets, output_dir=out, scale=scale, admin_token=admin_token,
                            keep_rollout=keep_rollout, token_secret=token_secret, progress=progress))
    console = Console()
    table = Table(title=f"load ab {profile.name} (open loop, interleaved)", title_justify="left")
    for column in ("side", "targets", "window", "achieved", "requests", "errors", "p50", "p95", "p99"):
        table.add_column(column, justify="right")
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
    table = Table(title=f"{directory / 'profiles.yaml'}", title_justify="left")
    for column in ("profile", "user class", "users", "spawn/s", "rate", "warm-up", "duration", "rollout"):
        table.add_column(column)
    for p in load_profiles(directory / "profiles.yaml").values():
        rollout = ", ".join(f"{k.removeprefix('rust_')} {v:g}%" for k, v in p.rollout.items()) or "-"
        table.add_row(p.name, p.user_class, str(p.users), f"{p.spawn_rate:g}", f"{p.rate:g}/s",
                      f"{p.warmup:g}s", f"{p.duration:g}s", rollout)
    Console().print(table)


def soak(*, host: str | None, stack_dir: str | None, profile_name: str, rate: float | None, duration: str,
         sample: str, warmup: str | None, pid: int | None, bound: str, scale: float, output_dir: str,
         loadgen: str | None,
         token_secret: str | None, allow_remote: bool, progress: bool) -> int:
    from sloguard.load.soak import SOAK_FILE, SoakOptions, parse_growth_bound, run_soak

    url, _ = target_from(host, stack_dir, None, allow_remote)
    profile, _ = resolve_profile(profile_name, loadgen, scale, rate=rate, warmup=warmup)
    total = seconds(duration, "--duration")
    step = seconds(sample, "--sample")
    assert total is not None and step is not None
    out = Path(output_dir)
    doc = run_soak(SoakOptions(profile=profile, host=url, duration=total, sample=step,
                               bound=parse_growth_bound(bound), output_dir=out, pid=pid,
                               token_secret=token_secret, progress=progress))  # fmt: skip
    m = doc["memory"]
    low, high = m["ci95_bytes_per_hour"]
    console = Console()
    console.print(
        f"soak {doc['window']['seconds']:.0f} s at {profile.rate:g} req/s on pid {doc['pid']}: RSS "
        f"{_mib(m['rss_start_bytes'])} → {_mib(m['rss_end_bytes'])}; growth {_mib(m['growth_bytes_per_hour'])}/h "
        f"(95% CI {_mib(low)} to {_mib(high)}/h; halves {_mib(m['halves_growth_bytes_per_hour'])}/h); "
        f"bound {_mib(m['bound_bytes_per_hour'])}/h: {m['verdict'].upper()}"
    )
    console.print(f"wrote {out / SOAK_FILE} and {out / 'rss.csv'}")
    if doc["interrupted"]:
        return EXIT_INTERRUPTED
    return int(ExitCode.FAILED if m["verdict"] == "growth" else ExitCode.PASS)


def stress(*, host: str | None, user_class: str, start: float, step: float, max_rate: float,
           step_duration: str, p95_max: float, error_max: float, require: float | None,
           recovery: str | None, stack_dir: str | None, rate: float, outage: str, output_dir: str,
           token_secret: str | None, allow_remote: bool, progress: bool) -> int:
    from sloguard.load.procs import Target
    from sloguard.load.stress import STRESS_FILE, RecoveryOptions, StressOptions, run_recovery, run_steps

    out = Path(output_dir)
    step_seconds = seconds(step_duration, "--step-duration")
    assert step_seconds is not None
    console = Console()
    if recovery:
        deps = tuple(d.strip() for d in recovery.split(",") if d.strip())
        target = Target.from_stack(Path(stack_dir)) if stack_dir else Target.start(out / "target")
        try:
            if host and check_host(host, allow_remote=allow_remote) != target.url:
                raise UsageError("--recovery runs against the stack it restarts: drop --host")
            options = StressOptions(host=target.url, user_class=user_class, output_dir=out,
                                    token_secret=token_secret, progress=progress)
            outage_seconds = seconds(outage, "--outage")
            assert outage_seconds is not None
            doc = run_recovery(target, RecoveryOptions(deps, rate=rate, outage=outage_seconds,
                                                       error_max=error_max), options)  # fmt: skip
        finally:
            target.stop()
        failed = False
        for s in doc["recovery"]:
            ratio = "-" if s["outage_error_ratio"] is None else f"{s['outage_error_ratio']:.1%}"
            took = f"{s['recovery_seconds']:.1f} s" if s["recovered"] else "NOT recovered"
            console.print(f"{s['dependency']}: error ratio during the outage {ratio}; back under "
                          f"{error_max:.0%} {took} after the restart")
            failed |= not s["recovered"]
        console.print(f"wrote {out / STRESS_FILE}")
        return int(ExitCode.FAILED if failed else ExitCode.PASS)
    url, _ = target_from(host, stack_dir, None, allow_remote)
    doc = run_steps(StressOptions(host=url, user_class=user_class, start_rate=start, step_rate=step,
                                  max_rate=max_rate, step_duration=step_seconds, p95_max=p95_max,
                                  error_max=error_max, output_dir=out, token_secret=token_secret,
                                  progress=progress))  # fmt: skip
    table = Table(title=f"stress → {url}", title_justify="left")
    for column in ("rate", "achieved", "errors", "p50", "p95", "held", "why not"):
        table.add_column(column, justify="right")
    for s in doc["steps"]:
        table.add_row(f"{s['rate']:g}/s", f"{s['achieved_rate']:,.1f}/s", f"{s['error_ratio']:.2%}",
                      _ms(s["p50_seconds"]), _ms(s["p95_seconds"]), "yes" if s["held"] else "no",
                      "; ".join(s["reasons"]))
    console.print(table)
    sustainable = doc["sustainable_rate"]
    console.print(f"last sustainable rate: {'none' if sustainable is None else f'{sustainable:g} req/s'}"
                  + ("" if doc["breaking_rate"] is None else f"; broke at {doc['breaking_rate']:g} req/s")
                  + (" (reached --max without breaking)" if doc["max_rate_reached"] else ""))
    console.print(f"wrote {out / STRESS_FILE}")
    if doc["interrupted"]:
        return EXIT_INTERRUPTED
    if require is not None and (sustainable is None or sustainable < require):
        return int(ExitCode.FAILED)
    return int(ExitCode.PASS)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value * 1000:.2f} ms"


def _mib(value: float) -> str:
    return f"{value / 1048576:,.2f} MiB"
