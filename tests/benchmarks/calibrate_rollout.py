"""Calibrate the rollout's sequential tests (sloguard.rollout.sequential) on replayed and simulated SARK plans.

Run:  .venv/bin/python -m tests.benchmarks.calibrate_rollout   [--record DIR [--seconds 90] | --replay DIR]
          [--tables both|replay|simulated] [--trials 1000] [--seed 15] [--window step|plan|both]

Replay (the issue's calibration on recorded traffic): `--record DIR` starts the embedded stack
(sloguard/stack.py) with the Rust path at 50 %, drives it with the open-loop generator (`sloguard load
run quick --open-loop --keep-rollout`) for `--seconds`, stops the stack and replays DIR/run/latencies.csv;
`--replay DIR` replays a run directory recorded before; with neither, the run is recorded into a
temporary directory first, so one command reproduces the table. Each replayed plan walks the same
steps and looks as the simulation (tests/support/rollout_simulation.py), each look's requests of a
path resampled from that implementation's recorded rows in blocks of about a second of its traffic
(ReplaySource). Rows: clean as recorded; clean at the boundary (Rust's latencies scaled so its
recorded p95 equals Python's, its error ratio moved to Python's); Rust's error ratio Python's + 1
point (latency at the boundary), counted before the 25 % step; Rust's p95 1.10 × Python's (errors
at the boundary), counted before 50 %. At the plan defaults (conventions.ROLLOUT_DEFAULT_*: α 0.01,
error margin 0.001, latency margin 0.05, p95) and the controller's window (`plan`: counts since the
climb began).

Simulated: a look every interval (28 looks in the 5 % step, 14 in each later one), a constant
request rate at which Rust reaches the step's 3000 minimum events at the end of the 5 % step, Rust
taking the step's percent of the traffic. Baseline error ratio 0.5 %; latencies lognormal (median
0.4 ms, σ 0.35, p95 near 0.71 ms like the reference service's OPA path) bucketed with
conventions.LATENCY_BUCKETS. `--window step` feeds each step's counts from the step's start (the
plan's design); `plan` from the flag's first step, so evidence carries over promotions.

Targets (issue 15): clean plans rolled back ≤ 1 %; Rust's error ratio +1 percentage point rolled
back before the 25 % step ≥ 90 %; Rust 10 % slower at p95 rolled back before the 50 % step ≥ 90 %.
Recording runs the stack and a load generator, the tables are pure CPU: on the shared machine take
/tmp/coord/cpu.lock around a run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sloguard.conventions import (
    IMPL_PYTHON,
    IMPL_RUST,
    ROLLOUT_DEFAULT_ALPHA,
    ROLLOUT_DEFAULT_ERROR_MARGIN,
    ROLLOUT_DEFAULT_LATENCY_MARGIN,
    ROLLOUT_DEFAULT_LATENCY_QUANTILE,
)
from sloguard.runs import LATENCIES_CSV
from tests.support.rollout_simulation import (
    CLEAN,
    ERROR_FAULT,
    LATENCY_FAULT,
    STEP_25,
    STEP_50,
    RecordedPath,
    ReplaySource,
    Scenario,
    histogram_quantile,
    read_recording,
    share_rolled_back,
    simulate,
)

RECORD_PROFILE = "quick"  # loadgen/profiles.yaml: 100 req/s of SARKUser, the demo's traffic
RECORD_SECONDS = 90.0
RECORD_PERCENT = 50.0  # Rust's share while recording: both paths get as many rows
BLOCK_SECONDS = 1.0  # the bootstrap's block: about a second of a path's own rows


# ---- simulated table ----------------------------------------------------------------------------


def scenarios() -> list[tuple[Scenario, int | None, str]]:
    """(scenario, the step index before which a rollback counts, target) rows of the table."""
    return [
        (CLEAN, None, "<= 1 %"),
        (CLEAN.with_(name="clean", latency_margin=0.05), None, "<= 1 %"),
        (CLEAN.with_(name="clean, wider latencies", sigma=0.6, median_seconds=0.002), None, "<= 1 %"),
        (Scenario("error ratio at the margin (+0.1 pp)", rust_error_ratio=0.006), None, "<= 4 x alpha"),
        (ERROR_FAULT, STEP_25, ">= 90 %"),
        (LATENCY_FAULT.with_(latency_margin=0.05), STEP_50, ">= 90 %"),
        (LATENCY_FAULT, STEP_50, "(on the null: <= 4 x alpha)"),
        (LATENCY_FAULT.with_(name="rust 10 % slower, wider latencies", latency_margin=0.05, sigma=0.6,
                             median_seconds=0.002), STEP_50, ">= 90 %"),
        (LATENCY_FAULT.with_(name="rust 20 % slower", rust_slowdown=1.20), STEP_50, ">= 90 %"),
        # SARK's own plan asks 10,000 events per path and step (rollout.yaml), not the 3,000 above.
        (CLEAN.with_(name="clean, minEvents 10000", latency_margin=0.05, min_events=10_000), None, "<= 1 %"),
        (ERROR_FAULT.with_(name="rust error ratio +1 pp, minEvents 10000", min_events=10_000), STEP_25, ">= 90 %"),
        (LATENCY_FAULT.with_(name="rust 10 % slower, minEvents 10000", latency_margin=0.05, min_events=10_000),
         STEP_50, ">= 90 %"),
    ]


def simulated_table(trials: int, seed: int, windows: tuple[str, ...]) -> None:
    print(f"simulated: trials {trials} per row, seed {seed} + row, alpha 0.01, error margin 0.001, quantile 0.95")
    print(f"| {'scenario':<42} | window | latency margin | rolled back | counted | target |")
    print("|---|---|---|---|---|---|")
    for window in windows:
        for row, (scenario, before, target) in enumerate(scenarios()):
            started = time.monotonic()
            scenario = scenario.with_(window=window)
            outcomes = simulate(scenario, trials, seed + row)
            share = share_rolled_back(outcomes, before)
            counted = "any step" if before is None else f"before {scenario.percents[before]} %"
            print(f"| {scenario.name:<42} | {window} | {scenario.latency_margin:g} | {100 * share:.1f} % "
                  f"| {counted} | {target} |  ({time.monotonic() - started:.0f} s)", flush=True)


# ---- recording ----------------------------------------------------------------------------------


def record(directory: Path, seconds: float) -> Path:
    """Start the embedded stack at 50 % Rust, drive it open-loop for `seconds`, stop it; returns the run directory."""
    import signal
    import subprocess

    from sloguard.conventions import ENV_DEMO_ADMIN_TOKEN
    from sloguard.stack import StackOptions, default_rules, down, up, wait_for_scrape

    # As in sloguard/demo_rollout.py: a SIGTERM must unwind through `finally`, or the stack outlives the run.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    directory.mkdir(parents=True, exist_ok=True)
    stack_dir, run_dir = directory / "stack", directory / "run"
    state = up(StackOptions(directory=stack_dir, rollout=RECORD_PERCENT, rules=default_rules()), say=print)
    try:
        wait_for_scrape(state, 0.0)
        argv = [sys.executable, "-m", "sloguard", "load", "run", RECORD_PROFILE, "--host",
                state.components["service"].url, "--open-loop", "--keep-rollout", "--duration", f"{seconds:g}s",
                "--output-dir", str(run_dir), "--no-progress"]
        print(f"recording {seconds:g} s of the {RECORD_PROFILE!r} profile, open loop, Rust at "
              f"{RECORD_PERCENT:g} %, into {run_dir}", flush=True)
        # The token travels in the environment, never in argv; the generator's output goes to a log.
        with (directory / "load.log").open("wb") as log:
            subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=seconds + 300,
                           env={**os.environ, ENV_DEMO_ADMIN_TOKEN: state.admin_token})
    finally:
        down(stack_dir)
    return run_dir


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def latencies_file(directory: Path) -> Path:
    """A run directory's latencies.csv, or that of DIR/run as `--record DIR` leaves it."""
    for candidate in (directory / LATENCIES_CSV, directory / "run" / LATENCIES_CSV):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{directory}: no {LATENCIES_CSV} (nor run/{LATENCIES_CSV}): pass a run directory")


# ---- replayed table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRow:
    """One row of the replay table: the plan's settings, how Rust's rows are transformed, what counts."""

    scenario: Scenario
    rust_p95_over_python: float | None  # None: Rust's latencies as recorded
    rust_error_over_python: float | None  # None: Rust's errors as recorded
    before: int | None
    target: str
    read: str = "raw"  # which p95 the ratio is of: the recorded latencies' ("raw") or the histogram's ("buckets")
    level: float = 1.0  # both paths' latencies × this first: the same traffic, its p95 elsewhere among the bounds


REPLAY_DEFAULTS = Scenario("replay", error_margin=ROLLOUT_DEFAULT_ERROR_MARGIN,
                           latency_quantile=ROLLOUT_DEFAULT_LATENCY_QUANTILE,
                           latency_margin=ROLLOUT_DEFAULT_LATENCY_MARGIN, alpha=ROLLOUT_DEFAULT_ALPHA, window="plan")


def replay_rows() -> list[ReplayRow]:
    """The issue's rows at minEvents 3000 and SARK's 10000, and the latency margin read as the monitor reads it."""
    rows = [ReplayRow(REPLAY_DEFAULTS.with_(name="clean, as recorded"), None, None, None, "<= 1 %")]
    for min_events in (3000, 10_000):
        tail = "" if min_events == 3000 else ", minEvents 10000"
        s = REPLAY_DEFAULTS.with_(min_events=min_events)
        rows += [
            ReplayRow(s.with_(name="clean at the boundary" + tail), 1.0, 0.0, None, "<= 1 %"),
            ReplayRow(s.with_(name="rust error ratio +1 pp" + tail), 1.0, 0.01, STEP_25, ">= 90 %"),
            ReplayRow(s.with_(name="rust p95 1.10 x python's" + tail), 1.10, 0.0, STEP_50, ">= 90 %"),
        ]
    # LATENCY_BUCKETS are coarse where the recorded p95s sit (1 ms, 2.5 ms): a raw ratio is not the
    # ratio the monitor reads. These rows set the ratio histogram_quantile reads: the margin itself
    # (the latency monitor's null, where α bounds it) and 10 % past Python's.
    rows += [
        ReplayRow(REPLAY_DEFAULTS.with_(name="rust p95 1.05 x (the margin), as read"), 1.05, 0.0, None,
                  "(on the null: <= 4 x alpha)", "buckets"),
        ReplayRow(REPLAY_DEFAULTS.with_(name="rust p95 1.10 x python's, as read"), 1.10, 0.0, STEP_50, ">= 90 %",
                  "buckets"),
    ]
    # Python's recorded p95 (about 2.4 ms) sits just under the 2.5 ms bound, so Rust 10 % slower
    # crosses it and reads far slower: the same traffic at lower levels puts both p95s inside the
    # 1-2.5 ms bucket, where the histogram blurs a slowdown (what a faster or slower service would see).
    for level in (0.6, 0.8):
        rows += [
            ReplayRow(REPLAY_DEFAULTS.with_(name=f"clean at the boundary, latencies x {level:g}"), 1.0, 0.0, None,
                      "<= 1 %", level=level),
            ReplayRow(REPLAY_DEFAULTS.with_(name=f"rust p95 1.10 x python's, latencies x {level:g}"), 1.10, 0.0,
                      STEP_50, ">= 90 %", level=level),
        ]
    return rows


def describe_recording(latencies_csv: Path, paths: dict[str, RecordedPath], q: float) -> None:
    print(f"recording: {latencies_csv}")
    for impl in (IMPL_RUST, IMPL_PYTHON):
        path = paths[impl]
        print(f"  {impl:<6} {path.requests} rows over {path.seconds:.1f} s ({path.requests / path.seconds:.1f}/s), "
              f"errors {int(path.error.sum())} ({100 * path.error_ratio:.3f} %), p50 {1e3 * path.quantile(0.5):.3f} "
              f"ms, p{100 * q:g} {1e3 * path.quantile(q):.3f} ms raw / {1e3 * histogram_quantile(q, path.latency):.3f}"
              f" ms from LATENCY_BUCKETS, p99 {1e3 * path.quantile(0.99):.3f} ms", flush=True)
    rust, python = paths[IMPL_RUST], paths[IMPL_PYTHON]
    print(f"  rust/python p{100 * q:g}: {rust.quantile(q) / python.quantile(q):.3f} raw, "
          f"{histogram_quantile(q, rust.latency) / histogram_quantile(q, python.latency):.3f} from the buckets")


def replay_table(latencies_csv: Path, trials: int, seed: int, windows: tuple[str, ...],
                 block_seconds: float = BLOCK_SECONDS) -> None:
    paths = read_recording(latencies_csv)
    q = REPLAY_DEFAULTS.latency_quantile
    describe_recording(latencies_csv, paths, q)
    python = paths[IMPL_PYTHON]
    print(f"replayed: trials {trials} per row, seed {seed} + row, alpha {REPLAY_DEFAULTS.alpha:g}, error margin "
          f"{REPLAY_DEFAULTS.error_margin:g}, latency margin {REPLAY_DEFAULTS.latency_margin:g}, quantile {q:g}, "
          f"blocks of {block_seconds:g} s of a path's rows")
    print(f"| {'scenario':<42} | window | minEvents | rust latency × | rust p95 / python (buckets) "
          f"| rust error ratio | rolled back | counted | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    for window in windows:
        for row, spec in enumerate(replay_rows()):
            started = time.monotonic()
            scenario = spec.scenario.with_(window=window)
            source = ReplaySource.at(paths, rust_p95_over_python=spec.rust_p95_over_python,
                                     rust_error_over_python=spec.rust_error_over_python, quantile=q,
                                     read=spec.read, level=spec.level, block_seconds=block_seconds)
            read = (histogram_quantile(q, paths[IMPL_RUST].latency * source.rust_latency_scale)
                    / histogram_quantile(q, python.latency * source.python_latency_scale))
            outcomes = simulate(scenario, trials, seed + row, source)
            share = share_rolled_back(outcomes, spec.before)
            counted = "any step" if spec.before is None else f"before {scenario.percents[spec.before]} %"
            print(f"| {scenario.name:<42} | {window} | {scenario.min_events} | {source.rust_latency_scale:.3f} "
                  f"| {read:.3f} | {100 * source.rust_error_ratio:.3f} % "
                  f"| {100 * share:.1f} % | {counted} | {spec.target} |  ({time.monotonic() - started:.0f} s)",
                  flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--record", type=Path, metavar="DIR", help="record a run into DIR (stack up, load, down), "
                        "then replay it")
    source.add_argument("--replay", type=Path, metavar="DIR", help="replay the run directory DIR (or DIR/run)")
    parser.add_argument("--seconds", type=float, default=RECORD_SECONDS, help="how long to record (default 90)")
    parser.add_argument("--tables", choices=("both", "replay", "simulated"), default="both")
    parser.add_argument("--trials", type=int, default=1000, help="plans per row (default 1000)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--window", choices=("step", "plan", "both"), default="both",
                        help="the simulated table's windows (default both)")
    parser.add_argument("--block-seconds", type=float, default=BLOCK_SECONDS,
                        help="the replay's block: this many seconds of a path's consecutive rows (default 1; "
                        "0: single rows, i.e. an i.i.d. bootstrap)")
    parser.add_argument("--replay-window", choices=("step", "plan", "both"), default="plan",
                        help="the replay table's windows (default plan, the controller's)")
    args = parser.parse_args(argv)
    windows = ("step", "plan") if args.window == "both" else (args.window,)
    replay_windows = ("step", "plan") if args.replay_window == "both" else (args.replay_window,)
    if args.tables != "simulated":
        if args.replay is not None:
            run_dir = args.replay
        else:
            directory = args.record or Path(tempfile.mkdtemp(prefix="sloguard-rollout-recording-"))
            started = time.monotonic()
            run_dir = record(directory, args.seconds)
            print(f"recorded in {time.monotonic() - started:.0f} s", flush=True)
        replay_table(latencies_file(run_dir), args.trials, args.seed, replay_windows, args.block_seconds)
    if args.tables != "replay":
        simulated_table(args.trials, args.seed, windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
