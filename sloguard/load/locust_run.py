"""Drive a headless Locust run through its Python API: local, or a master with N worker processes.

Importing this module imports locust, which monkey-patches the process with
gevent; only `sloguard load run` (without --open-loop) imports it.
"""

from __future__ import annotations

# isort: off
import locust  # noqa: F401  (first: gevent must patch before anything else opens sockets)
# isort: on

import csv
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import STATE_RUNNING, MasterRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history
from locust.util.load_locustfile import load_locustfile

from sloguard.errors import BackendError, UsageError
from sloguard.load import locust_support
from sloguard.load.openloop import Snapshot
from sloguard.load.profiles import Profile
from sloguard.processes import free_port, stop_pid
from sloguard.runs import LatencyWriter

CSV_PREFIX = "locust"
HTML_REPORT = "report.html"
_WORKER_WAIT = 60.0  # seconds for local workers to connect
_REMOTE_WORKER_WAIT = 300.0  # seconds for workers on other machines (started by hand)


@dataclass(frozen=True)
class Distribution:
    """Locust's distributed mode: N local worker processes plus workers started on other machines."""

    local: int = 0
    remote: int = 0
    bind: str = "127.0.0.1"  # the master's address for workers; another machine needs a routable one
    port: int | None = None  # None: a free port (fixed when remote workers must be told it)

    @property
    def total(self) -> int:
        return self.local + self.remote


@dataclass
class LocustResult:
    start: float  # steady-state window, unix seconds
    end: float
    interrupted: bool
    ramp_seconds: float
    cpu_seconds: float  # of this process (and, distributed, not of the workers)


def run_locust(
    profile: Profile,
    host: str,
    locustfile: Path,
    output_dir: Path,
    writer: LatencyWriter,
    *,
    distribution: Distribution = Distribution(),
    token_secret: str | None = None,
    progress: Callable[[Snapshot], None] | None = None,
) -> LocustResult:
    """Ramp up, warm up, hold the steady state for the profile's duration; Ctrl-C ends it early."""
    user_classes, _ = load_locustfile(str(locustfile))
    if profile.user_class not in user_classes:
        raise UsageError(f"{locustfile}: no user class {profile.user_class} (has {', '.join(user_classes)})")
    parser = get_parser(default_config_files=[])
    args = ["--user-rate", f"{profile.rate / profile.users:.6f}", "--headless"]
    if token_secret:
        args += ["--token-secret", token_secret]
    options = parser.parse_args(args=args)
    env = Environment(
        user_classes=[user_classes[profile.user_class]],
        host=host,
        events=events,
        parsed_options=options,
        locustfile=str(locustfile),
        stop_timeout=profile.timeout,
    )
    worker_procs: list[subprocess.Popen[bytes]] = []
    workers = distribution.total
    if workers:
        port = distribution.port or free_port()
        runner: Any = env.create_master_runner(master_bind_host=distribution.bind, master_bind_port=port)
        worker_procs = _start_workers(locustfile, port, distribution.local, output_dir)
        if distribution.remote:
            print(f"waiting for {distribution.remote} remote worker(s); on each machine run:\n"
                  f"  locust -f loadgen/locustfile.py --worker --master-host <this machine> --master-port {port}",
                  file=sys.stderr, flush=True)  # fmt: skip
    else:
        runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    locust_support.record_to(writer, env)

    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True

    gevent.signal_handler(signal.SIGINT, on_sigint)
    csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(output_dir / CSV_PREFIX), full_history=True)
    background = [gevent.spawn(csv_writer.stats_writer), gevent.spawn(stats_history, runner)]
    cpu0 = time.process_time()
    t_start = time.time()
    ramp_seconds = 0.0
    window_start = window_end = 0.0
    try:
        if workers:
            wait = _REMOTE_WORKER_WAIT if distribution.remote else _WORKER_WAIT
            _wait_for_workers(runner, workers, worker_procs, lambda: interrupted, wait)
        gevent.spawn(runner.start, profile.users, profile.spawn_rate)
        # Phase 1: ramp. Bounded: a machine that cannot start the users in time is an error, not a hang.
        ramp_deadline = time.monotonic() + profile.ramp_seconds * 3 + 30
        while not _spawned(runner) and not interrupted:
            if env.process_exit_code is not None:  # the locustfile's target check aborted the run
                raise BackendError(f"the locustfile aborted the run (exit code {env.process_exit_code})")
            if time.monotonic() > ramp_deadline:
                raise BackendError(f"Locust did not start {profile.users} users in time")
            gevent.sleep(0.1)
        ramp_seconds = time.time() - t_start
        # Phase 2: warm-up, then the steady-state window with Locust's stats reset at its start.
        _hold(runner, time.time() + profile.warmup, "warmup", profile, progress, lambda: interrupted)
        window_start = window_end = time.time()
        if not interrupted:  # interrupted before the window opened: the window is empty
            runner.stats.reset_all()
            stopped = _hold(runner, window_start + profile.duration, "steady", profile, progress,
                            lambda: interrupted)
            window_end = min(stopped, window_start + profile.duration)
    finally:
        runner.stop()
        if workers:
            gevent.sleep(1.5)  # the workers' last batches of rows arrive after their test_stop
        gevent.killall(background, block=False)
        _final_csv(csv_writer)
        (output_dir / HTML_REPORT).write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
        runner.quit()
        for proc in worker_procs:
            stop_pid(proc.pid, timeout=10)
        locust_support.record_to(None)
    return LocustResult(window_start, window_end, interrupted, ramp_seconds, time.process_time() - cpu0)


def _spawned(runner: Any) -> bool:
    if isinstance(runner, MasterRunner):
        return bool(runner.spawning_completed)
    return bool(runner.state == STATE_RUNNING)


def _hold(runner: Any, until: float, phase: str, profile: Profile,
          progress: Callable[[Snapshot], None] | None, interrupted: Callable[[], bool]) -> float:
    """Run until `until` (unix), reporting progress once a second; returns when it stopped."""
    t0 = time.time()
    last = 0.0
    while time.time() < until and not interrupted():
        gevent.sleep(min(0.2, max(0.0, until - time.time())))
        now = time.time()
        if progress and now - last >= 1.0:
            last = now
            total = runner.stats.total
            progress(Snapshot(
                elapsed=now - t0, phase=phase, requested_rate=profile.rate, rate=total.current_rps,
                errors=total.num_failures, error_ratio=total.fail_ratio,
                p95=(total.get_current_response_time_percentile(0.95) or 0.0) / 1000.0,
                in_flight=runner.user_count, backlog=0, counted="done",
            ))  # fmt: skip
    return time.time()


def _start_workers(locustfile: Path, port: int, n: int, output_dir: Path) -> list[subprocess.Popen[bytes]]:
    """N local worker processes; on many machines run the same command on each with --master-host."""
    procs = []
    for i in range(n):
        log = (output_dir / f"worker-{i}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host", "127.0.0.1",
             "--master-port", str(port), "--loglevel", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Ctrl-C goes to the master, which stops the workers itself.
            start_new_session=True,
        ))  # fmt: skip
        log.close()
    return procs


def _wait_for_workers(runner: Any, n: int, procs: list[subprocess.Popen[bytes]],
                      interrupted: Callable[[], bool], wait: float) -> None:
    deadline = time.monotonic() + wait
    while len(runner.clients.ready) < n:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise BackendError(f"a Locust worker exited with code {dead[0].returncode} (see worker-*.log)")
        if time.monotonic() > deadline or interrupted():
            raise BackendError(f"only {len(runner.clients.ready)} of {n} Locust workers connected in time")
        gevent.sleep(0.2)


def _final_csv(writer: StatsCSVFileWriter) -> None:
    """Rewrite the summary CSVs once more after the stop (the writer greenlet runs once a second)."""
    for handle, columns, rows in (
        (writer.requests_csv_filehandle, writer.requests_csv_columns, writer._requests_data_rows),
        (writer.failures_csv_filehandle, writer.failures_columns, writer._failures_data_rows),
        (writer.exceptions_csv_filehandle, writer.exceptions_columns, writer._exceptions_data_rows),
    ):
        handle.seek(0)
        handle.truncate()
        csv_writer = csv.writer(handle)
        csv_writer.writerow(columns)
        rows(csv_writer)
    writer.close_files()
