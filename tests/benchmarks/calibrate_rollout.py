"""Calibrate the rollout's sequential tests (sloguard.rollout.sequential) on simulated SARK plans.

Run:  .venv/bin/python -m tests.benchmarks.calibrate_rollout   [--trials 1000] [--seed 15] [--window step|plan|both]

A plan is SARK's 5 → 10 → 25 → 50 → 100 % compressed (tests/support/rollout_simulation.py): a look
every interval (28 looks in the 5 % step, 14 in each later one), a constant request rate at which
Rust reaches the step's 3000 minimum events at the end of the 5 % step, Rust taking the step's
percent of the traffic. Baseline error ratio 0.5 %; latencies lognormal (median 0.4 ms, σ 0.35, p95
near 0.71 ms like the reference service's OPA path) bucketed with conventions.LATENCY_BUCKETS.
Targets (issue 15): clean plans rolled back ≤ 1 %; Rust's error ratio +1 percentage point rolled
back before the 25 % step ≥ 90 %; Rust 10 % slower at p95 rolled back before the 50 % step ≥ 90 %.
`--window step` feeds each step's counts from the step's start (the plan's design); `plan` from the
flag's first step, so evidence carries over promotions. Pure CPU: a run over a minute takes
/tmp/coord/cpu.lock on the shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.rollout_simulation import (
    CLEAN,
    ERROR_FAULT,
    LATENCY_FAULT,
    STEP_25,
    STEP_50,
    Scenario,
    share_rolled_back,
    simulate,
)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000, help="simulated plans per row (default 1000)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--window", choices=("step", "plan", "both"), default="both")
    args = parser.parse_args(argv)
    windows = ("step", "plan") if args.window == "both" else (args.window,)
    print(f"trials {args.trials} per row, seed {args.seed}, alpha 0.01, error margin 0.001, quantile 0.95")
    print(f"| {'scenario':<42} | window | latency margin | rolled back | counted | target |")
    print("|---|---|---|---|---|---|")
    for window in windows:
        for row, (scenario, before, target) in enumerate(scenarios()):
            started = time.monotonic()
            scenario = scenario.with_(window=window)
            outcomes = simulate(scenario, args.trials, args.seed + row)
            share = share_rolled_back(outcomes, before)
            counted = "any step" if before is None else f"before {scenario.percents[before]} %"
            print(f"| {scenario.name:<42} | {window} | {scenario.latency_margin:g} | {100 * share:.1f} % "
                  f"| {counted} | {target} |  ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
