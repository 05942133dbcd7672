"""Pure functions of soak and stress: growth fit with its confidence interval, recovery time, step verdicts."""

from __future__ import annotations

import math
import random

import pytest

from sloguard.errors import UsageError
from sloguard.load.openloop import Phase, PhaseResult
from sloguard.load.recorder import Counts
from sloguard.load.soak import analyze_growth, parse_growth_bound
from sloguard.load.stress import judge_step, recovery_time

MIB = 1048576


def series(slope_per_hour: float, noise: float, n: int = 120, step: float = 30.0, seed: int = 1
           ) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    times = [1_700_000_000 + i * step for i in range(n)]
    rss = [200 * MIB + slope_per_hour * (i * step / 3600) + rng.gauss(0, noise) for i in range(n)]
    return times, rss


def test_a_leak_is_growth_and_its_interval_covers_the_true_slope() -> None:
    times, rss = series(slope_per_hour=50 * MIB, noise=2 * MIB)
    result = analyze_growth(times, rss, bound=MIB)
    low, high = result["ci95_bytes_per_hour"]
    assert low <= 50 * MIB <= high
    assert result["verdict"] == "growth"
    assert result["second_half_mean_bytes"] > result["first_half_mean_bytes"]
    # The halves view agrees with the fit to within a few noise widths.
    assert result["halves_growth_bytes_per_hour"] == pytest.approx(50 * MIB, rel=0.2)


def test_flat_memory_passes_and_noise_alone_is_never_growth() -> None:
    times, rss = series(slope_per_hour=0, noise=64 * 1024)
    assert analyze_growth(times, rss, bound=MIB)["verdict"] == "pass"
    # A short noisy run cannot prove anything either way: inconclusive, not a leak.
    short_t, short_r = series(slope_per_hour=0, noise=4 * MIB, n=8, step=2.0, seed=2)
    assert analyze_growth(short_t, short_r, bound=MIB)["verdict"] == "inconclusive"


def test_the_interval_is_calibrated() -> None:
    # With no growth, a 95 % interval lies wholly above zero in ~2.5 % of runs: that is the
    # false-leak rate of the verdict, and it must not be much worse.
    false_leaks = sum(
        analyze_growth(*series(slope_per_hour=0, noise=MIB, n=20, step=5.0, seed=seed), bound=0)["verdict"]
        == "growth"
        for seed in range(400)
    )
    assert false_leaks <= 20  # 5 %; the expected count is 10


def test_a_perfectly_flat_series_has_a_zero_width_interval() -> None:
    result = analyze_growth([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [float(MIB)] * 6, bound=MIB)
    assert result["ci95_bytes_per_hour"] == [0.0, 0.0]
    assert result["verdict"] == "pass"


def test_too_few_samples_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="too few"):
        analyze_growth([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], bound=MIB)


@pytest.mark.parametrize(("text", "expected"), [
    ("1MiB/h", MIB), ("512KiB/hour", 512 * 1024), ("1048576", MIB), ("1KiB/s", 1024 * 3600), ("24MiB/d", MIB),
])  # fmt: skip
def test_growth_bounds(text: str, expected: float) -> None:
    assert parse_growth_bound(text) == pytest.approx(expected)


def test_bad_growth_bound() -> None:
    with pytest.raises(UsageError):
        parse_growth_bound("lots/h")


def test_recovery_time_needs_the_ratio_to_stay_down() -> None:
    # (interval end, requests, errors): errors until t=12, a relapse at 13, clean from 14 on.
    rows = [(10.0, 100, 50), (11.0, 100, 40), (12.0, 100, 0), (13.0, 100, 5), (14.0, 100, 0),
            (15.0, 100, 1), (16.0, 100, 0), (17.0, 100, 0)]  # fmt: skip
    assert recovery_time(rows, since=10.5, error_max=0.01, settle=2.0) == pytest.approx(3.5)
    assert recovery_time(rows, since=10.5, error_max=0.01, settle=10.0) is None
    assert recovery_time([(1.0, 0, 0), (2.0, 0, 0)], since=0.0, error_max=0.01, settle=0.5) is None


def phase_result(rate: float, seconds: float, latencies: list[float], errors: int = 0, dropped: int = 0
                 ) -> PhaseResult:
    result = PhaseResult(Phase("step", rate, seconds), 1000.0, 1000.0 + seconds, Counts())
    for latency in latencies:
        result.counts.sent += 1
        result.counts.add_result(200, "rust", latency)
    for _ in range(errors):
        result.counts.sent += 1
        result.counts.add_result(503, "python", 0.001)
    result.counts.dropped = dropped
    return result


def test_a_step_holds_within_both_bounds() -> None:
    step = judge_step(phase_result(100, 10, [0.001] * 1000), None, p95_max=0.005, error_max=0.01)
    assert step["held"] and step["reasons"] == []


def test_a_step_breaks_on_p95_errors_service_errors_or_a_slow_generator() -> None:
    slow = [0.001] * 900 + [0.02] * 100
    assert judge_step(phase_result(100, 10, slow), None, 0.005, 0.01)["reasons"][0].startswith("p95")
    errs = judge_step(phase_result(100, 10, [0.001] * 980, errors=20), None, 0.005, 0.01)
    assert not errs["held"] and errs["error_ratio"] == pytest.approx(0.02)
    # HTTP 200 with decision="error" (policy server down) counts through the service's counters.
    svc = judge_step(phase_result(100, 10, [0.001] * 1000), {"python": {"error": 30, "allow": 970}}, 0.005, 0.01)
    assert not svc["held"] and svc["service_decision_errors"] == 30
    lagging = judge_step(phase_result(100, 10, [0.001] * 500), None, 0.005, 0.01)
    assert not lagging["held"] and "could be sent" in lagging["reasons"][-1]


def test_nothing_answered_breaks() -> None:
    step = judge_step(phase_result(100, 10, [], dropped=1000), None, 0.005, 0.01)
    assert not step["held"] and math.isclose(step["error_ratio"], 1.0)
