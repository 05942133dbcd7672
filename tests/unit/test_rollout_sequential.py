"""The rollout's sequential tests: the mixture boundary, both monitors, and the issue's calibration targets.

The calibration here is the benchmark's (tests/benchmarks/calibrate_rollout.py) with 200 trials per
scenario and fixed seeds, so it is deterministic and takes a few seconds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sloguard.conventions import LATENCY_BUCKETS
from sloguard.intervals import bucket_quantile
from sloguard.rollout.sequential import (
    CONTINUE,
    HARM,
    SAFE,
    ErrorRatioMonitor,
    LatencyMonitor,
    best_mixture,
    boundary_at,
    cumulative,
    histogram_quantile_estimate,
    log_mixture_ratio,
    z_boundary,
)
from tests.support.rollout_simulation import (
    CLEAN,
    ERROR_FAULT,
    LATENCY_FAULT,
    STEP_25,
    STEP_50,
    bucket_probabilities,
    share_rolled_back,
    simulate,
)

TRIALS = 200
ALPHA = 0.01


def latency_buckets(median: float, events: float, sigma: float = 0.35) -> list[tuple[float, float]]:
    """Expected cumulative bucket counts of `events` lognormal latencies (no sampling noise)."""
    return cumulative(LATENCY_BUCKETS, (bucket_probabilities(median, sigma) * events).tolist())


# ---- the boundary -------------------------------------------------------------------------------


def test_the_boundary_is_where_the_mixture_ratio_reaches_one_over_alpha() -> None:
    x = best_mixture(ALPHA)
    z = z_boundary(x, ALPHA)
    assert log_mixture_ratio(z, x) == pytest.approx(math.log(1 / ALPHA), abs=1e-9)


def test_the_boundary_is_lowest_at_the_planned_events_and_above_the_fixed_sample_z() -> None:
    at_plan = boundary_at(1.0, ALPHA)
    assert all(boundary_at(f, ALPHA) > at_plan for f in (0.1, 0.5, 2.0, 10.0))
    one_sided_fixed = 2.326  # the price of looking at every interval: a higher bar than one look's
    assert one_sided_fixed < at_plan < 3.5
    assert boundary_at(0.0, ALPHA) == math.inf


def test_a_brownian_motion_without_drift_crosses_the_boundary_at_most_alpha_of_the_time() -> None:
    # The claim the monitors rest on: over 2,000 looks, however many, the false alarm rate stays <= alpha.
    looks, planned, trials = 2000, 500, 3000
    boundary = np.array([boundary_at(n / planned, ALPHA) for n in range(1, looks + 1)])
    paths = np.cumsum(np.random.default_rng(15).standard_normal((trials, looks)), axis=1)
    z = paths / np.sqrt(np.arange(1, looks + 1))
    assert (z >= boundary).any(axis=1).mean() <= ALPHA
    assert (z <= -boundary).any(axis=1).mean() <= ALPHA


# ---- the error-ratio monitor --------------------------------------------------------------------


def test_no_events_on_a_path_continues() -> None:
    evidence = ErrorRatioMonitor(0.001, ALPHA, 3000).look(0, 0, 10, 1000)
    assert evidence.decision == CONTINUE
    assert "reason" in evidence.details


def test_a_clear_error_regression_is_harm_and_equal_ratios_with_plenty_of_data_are_safe() -> None:
    monitor = ErrorRatioMonitor(0.001, ALPHA, 3000)
    assert monitor.look(150, 10_000, 500, 100_000).decision == HARM
    assert monitor.look(5000, 1_000_000, 5000, 1_000_000).decision == SAFE
    assert monitor.look(16, 3000, 280, 57_000).decision == CONTINUE


def test_errorless_paths_have_a_finite_statistic() -> None:
    evidence = ErrorRatioMonitor(0.001, ALPHA, 3000).look(0, 3000, 0, 57_000)
    assert math.isfinite(evidence.statistic)
    assert evidence.decision in (SAFE, CONTINUE)


def test_evidence_is_json_for_the_decision_log() -> None:
    looked = ErrorRatioMonitor(0.001, ALPHA, 3000).look(20, 3000, 280, 57_000).to_json()
    empty = ErrorRatioMonitor(0.001, ALPHA, 3000).look(0, 0, 0, 0).to_json()
    assert json.loads(json.dumps(looked, allow_nan=False)) == looked
    assert empty["boundary"] is None  # inf has no JSON spelling
    assert set(looked) == {"decision", "statistic", "boundary", "information", "details"}
    assert looked["details"]["low"] < looked["details"]["difference"] < looked["details"]["high"]


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"alpha": 1.0}, {"margin": -0.1}, {"planned_events": 0}])
def test_settings_outside_their_range_are_refused(kwargs: dict[str, float]) -> None:
    settings = {"margin": 0.001, "alpha": ALPHA, "planned_events": 3000.0, **kwargs}
    with pytest.raises(ValueError):
        ErrorRatioMonitor(**settings)


# ---- the latency monitor ------------------------------------------------------------------------


def test_the_quantile_estimate_is_prometheus_histogram_quantile() -> None:
    buckets = latency_buckets(0.0004, 10_000)
    estimate = histogram_quantile_estimate(0.95, buckets)
    assert estimate is not None
    assert estimate.value == pytest.approx(bucket_quantile(0.95, buckets))
    assert estimate.count == pytest.approx(10_000)


def test_a_quantile_in_the_inf_bucket_continues() -> None:
    buckets = cumulative(LATENCY_BUCKETS, [0.0] * len(LATENCY_BUCKETS) + [100.0])
    assert histogram_quantile_estimate(0.95, buckets) is None
    evidence = LatencyMonitor(0.95, 0.05, ALPHA, 3000).look(buckets, latency_buckets(0.0004, 10_000))
    assert evidence.decision == CONTINUE


def test_a_clear_latency_regression_is_harm_and_the_same_latencies_are_safe() -> None:
    monitor = LatencyMonitor(0.95, 0.05, ALPHA, 3000)
    python = latency_buckets(0.0004, 100_000)
    assert monitor.look(latency_buckets(0.0004 * 1.3, 20_000), python).decision == HARM
    assert monitor.look(latency_buckets(0.0004, 100_000), python).decision == SAFE
    assert monitor.look(latency_buckets(0.0004, 100), python).decision == CONTINUE


def test_a_quantile_read_from_a_handful_of_events_is_never_conclusive() -> None:
    # Seen in `demo --rollout --inject latency=rust:2ms`: three Rust requests, all in one bucket, gave a
    # delta-method variance of almost nothing and z 9.85, a rollback on three events. Below ten events
    # above the quantile on a path, the normal approximation the boundary relies on does not hold.
    three_slow = cumulative(LATENCY_BUCKETS, [0.0] * 9 + [3.0] + [0.0] * (len(LATENCY_BUCKETS) - 9))
    python = latency_buckets(0.0004, 100)
    monitor = LatencyMonitor(0.95, 0.05, ALPHA, 100)
    evidence = monitor.look(three_slow, python)
    assert evidence.decision == CONTINUE
    assert "10 events above" in evidence.details["reason"]
    assert monitor.look(latency_buckets(0.0004 * 3, 199), python).decision == CONTINUE  # 9.95 above p95
    assert monitor.look(latency_buckets(0.0004 * 3, 200), latency_buckets(0.0004, 200)).decision == HARM


def test_a_monitor_keeps_no_memory_so_a_restarted_controller_decides_the_same() -> None:
    python = latency_buckets(0.0004, 57_000)
    rust = latency_buckets(0.00042, 3000)
    assert LatencyMonitor(0.95, 0.05, ALPHA, 3000).look(rust, python) == LatencyMonitor(
        0.95, 0.05, ALPHA, 3000).look(rust, python)


# ---- calibration (the "Must show", fewer trials than the benchmark) ---------------------


def test_clean_plans_are_rarely_rolled_back() -> None:
    outcomes = simulate(CLEAN, TRIALS, seed=15)
    assert share_rolled_back(outcomes) <= 0.01


def test_an_error_ratio_one_point_above_is_rolled_back_before_25_percent() -> None:
    outcomes = simulate(ERROR_FAULT, TRIALS, seed=19)
    assert share_rolled_back(outcomes, STEP_25) >= 0.90


def test_ten_percent_slower_is_rolled_back_before_50_percent_with_evidence_kept_across_steps() -> None:
    # A margin below the fault (0.05): at 0.10 a 10 % slower Rust is on the null, where no test has power.
    outcomes = simulate(LATENCY_FAULT.with_(latency_margin=0.05, window="plan"), TRIALS, seed=20)
    assert share_rolled_back(outcomes, STEP_50) >= 0.90
