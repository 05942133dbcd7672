"""`sloguard load run`: one profile, headless, to run.json + raw latencies (+ Locust's CSV and HTML)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sloguard import runs
from sloguard.conventions import ADMIN_ROLLOUT_PATH, IMPLEMENTATIONS
from sloguard.demo.tokens import admin_token_from_env
from sloguard.errors import BackendError, UsageError
from sloguard.load.openloop import OpenLoopGenerator, Phase, run_open_loop
from sloguard.load.profiles import Profile
from sloguard.load.progress import Progress
from sloguard.load.recorder import Counts, filter_window
from sloguard.load.service_metrics import MetricsPoller
from sloguard.load.target import admin_request, apply_rollout, require_healthy
from sloguard.load.workload import WORKLOADS, http_source

# Locust (and gevent, which patches sockets and threads when it loads) is imported only by a Locust run.

SERVICE_POLL_SECONDS = 5.0


@dataclass
class LoadOptions:
    profile: Profile
    host: str
    output_dir: Path
    locustfile: Path
    open_loop: bool = False
    workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int | None = None
    scale: float = 1.0
    admin_token: str | None = None
    keep_rollout: bool = False
    token_secret: str | None = None
    progress: bool = True


def run_load(options: LoadOptions) -> dict[str, Any]:
    """Run the profile against the target and write run.json; returns its document."""
    profile = options.profile
    if not options.open_loop:
        # gevent must patch sockets and threads before the metrics poller's thread starts.
        import sloguard.load.locust_run  # noqa: F401
    if options.open_loop and (options.workers or options.remote_workers):
        raise UsageError("--workers runs Locust workers; the open-loop generator runs in one process "
                         "(it sends over 10,000 req/s per CPU core)")
    require_healthy(options.host)
    out = options.output_dir
    out.mkdir(parents=True, exist_ok=True)
    token = admin_token_from_env(options.admin_token)
    rollout = profile_rollout(options.host, profile.rollout, token, options.keep_rollout)
    # Every scrape renders /metrics on the service's event loop (about 6 ms here), delaying the
    # requests behind it: poll no more often than Prometheus does, since only the window's delta is used.
    poller = MetricsPoller(options.host, interval=SERVICE_POLL_SECONDS).start()
    progress = Progress(f"load {profile.name}", profile.warmup + profile.duration + profile.ramp_seconds *
                        (not options.open_loop), enabled=options.progress)  # fmt: skip
    try:
        if options.open_loop:
            counts, window, interrupted, generator = _open_loop(options, progress)
        else:
            counts, window, interrupted, generator = _locust(options, progress)
    finally:
        progress.close()
        poller.stop()
    doc = run_document(
        profile=profile, scale=options.scale, target=options.host,
        mode="open-loop" if options.open_loop else "locust", workers=options.workers + options.remote_workers,
        window=window,
        interrupted=interrupted, counts=counts, rollout=rollout,
        service=poller.delta(*window), generator=generator,
        files={"latencies": runs.LATENCIES_CSV} | ({} if options.open_loop else
                                                   {"locust_csv_prefix": "locust", "html": "report.html"}),
    )  # fmt: skip
    return runs.write_run(out, doc)


def _open_loop(options: LoadOptions, progress: Any) -> tuple[Counts, tuple[float, float], bool, dict[str, Any]]:
    profile = options.profile
    workload = WORKLOADS[profile.user_class](secret=options.token_secret)
    writer = runs.LatencyWriter(options.output_dir / runs.LATENCIES_CSV)
    generator = OpenLoopGenerator(
        options.host, http_source(workload, urlsplit(options.host).netloc),
        max_in_flight=profile.max_in_flight, timeout=profile.timeout, writer=writer, progress=progress,
    )
    phases = [Phase("warmup", profile.rate, profile.warmup, measured=False),
              Phase("steady", profile.rate, profile.duration)]  # fmt: skip
    cpu0 = time.process_time()
    try:
        result = run_open_loop(generator, [p for p in phases if p.duration > 0])
    finally:
        writer.close()
    cpu = time.process_time() - cpu0
    window = result.window()
    if window is None:  # interrupted before the steady state began
        now = time.time()
        window = (now, now)
    runs.write_timeline(options.output_dir / runs.TIMELINE_CSV, result.timeline, generator.offset + generator._t0)
    steady = result.measured()
    info = {
        "max_in_flight": profile.max_in_flight,
        "timeout": profile.timeout,
        "max_send_lag_seconds": round(max((p.max_send_lag for p in steady), default=0.0), 6),
        "connect_errors": generator.connect_errors,
        "cpu_seconds": round(cpu, 3),
    }
    return result.steady_counts(), window, result.interrupted, info


def _locust(options: LoadOptions, progress: Any) -> tuple[Counts, tuple[float, float], bool, dict[str, Any]]:
    # Imported here: locust_run brings in Locust and gevent, whose monkey-patching the open loop must not get.
    from sloguard.load.locust_run import Distribution, run_locust

    distribution = Distribution(options.workers, options.remote_workers, options.master_bind, options.master_port)
    raw = options.output_dir / runs.RAW_LATENCIES_CSV
    writer = runs.LatencyWriter(raw)
    try:
        result = run_locust(options.profile, options.host, options.locustfile, options.output_dir, writer,
                            distribution=distribution, token_secret=options.token_secret, progress=progress)
    finally:
        writer.close()
    counts = filter_window([raw], options.output_dir / runs.LATENCIES_CSV, result.start, result.end)
    raw.unlink(missing_ok=True)
    info = {"users": options.profile.users, "spawn_rate": options.profile.spawn_rate,
            "ramp_seconds": round(result.ramp_seconds, 3), "cpu_seconds": round(result.cpu_seconds, 3),
            "closed_loop": True}  # fmt: skip
    return counts, (result.start, result.end), result.interrupted, info


def profile_rollout(host: str, requested: dict[str, float], token: str, keep: bool) -> dict[str, Any]:
    """Apply the profile's rollout split through the admin API (or just read it with keep)."""
    if keep or not requested:
        try:
            state = admin_request(host, "GET", ADMIN_ROLLOUT_PATH, token)
        except BackendError:
            state = None  # a target without the admin API (or another token): recorded as unknown
        return {"requested": requested, "applied": False, "state": state}
    try:
        state = apply_rollout(host, requested, token)
    except BackendError as exc:
        raise BackendError(f"cannot apply the profile's rollout {requested}: {exc} "
                           "(pass --admin-token, or --keep-rollout to run with the service's split)") from None
    return {"requested": requested, "applied": True, "state": state}


def run_document(*, profile: Profile, scale: float, target: str, mode: str, workers: int,
                 window: tuple[float, float], interrupted: bool, counts: Counts, rollout: dict[str, Any],
                 service: dict[str, Any] | None, generator: dict[str, Any], files: dict[str, str]) -> runs.RunDocument:
    """The LoadRun document `sloguard check --run` and `sloguard compare` read."""
    start, end = window
    seconds = max(end - start, 0.0)
    summary = counts.summary(seconds)
    observed = summary["implementations"]
    total_impl = sum(observed.values())
    return runs.RunDocument(
        profile=profile.as_dict() | {"scale": scale},
        target=target,
        mode=mode,
        workers=workers,
        window=runs.window_around(start, end),
        steady_seconds=round(seconds, 3),
        slo_variables=dict(profile.slo_variables),
        interrupted=interrupted,
        rate={"requested": profile.rate, "achieved": summary["achieved_rate"]},
        requests=summary["requests"],
        errors=summary["errors"],
        latency_seconds=summary["latency_seconds"],
        rollout=rollout | {
            "observed": observed,
            "observed_percent_rust": round(100.0 * observed.get(IMPLEMENTATIONS[0], 0) / total_impl, 2)
            if total_impl else None,
        },
        service={"decisions": service},
        generator=generator,
        files=files,
    )
