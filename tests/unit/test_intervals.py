"""Confidence intervals of check values (sloguard/intervals.py): the formulas, the edge cases, and coverage.

The coverage tests draw synthetic histograms from known distributions (fixed seed), bucketed with
sloguard's LATENCY_BUCKETS, and count how often the 95 % intervals hold the truth: between 93 % and
97 % of the trials for every scenario (2,000 trials each). The scenarios and the definition of the
truth for a quantile are in docs/check.md#confidence-intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sloguard.conventions import LATENCY_BUCKETS
from sloguard.intervals import Interval, bucket_quantile, prepare_buckets, quantile_interval, wilson
from tests.support.promdata import histogram_quantile

INF = math.inf
BOUNDS = (*LATENCY_BUCKETS, INF)
TRIALS = 2000
SEED = 14


# ---- Wilson ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), [(0, 100), (1, 100), (3, 1000), (50, 100), (99, 100), (100, 100), (7, 3150),
                                      (2990, 3000)])
def test_wilson_is_scipys_wilson_interval(k: int, n: int) -> None:
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    got = wilson(k, n)
    assert got is not None
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high), abs=1e-12)
    assert got.level == 0.95 and got.method == "wilson"


def test_wilson_takes_extrapolated_counts_and_stays_in_0_1() -> None:
    got = wilson(2.5, 99.7)
    assert got is not None and 0 < got.low < 2.5 / 99.7 < got.high < 1
    zero, full = wilson(0.0, 1000.0), wilson(1000.4, 1000.0)  # extrapolation can overshoot n a little
    assert zero is not None and zero.low == 0 and zero.high == pytest.approx(3.8415 / 1003.8415, rel=1e-4)
    assert full is not None and full.high == 1 and full.low < 1


def test_wilson_without_trials_is_none() -> None:
    assert wilson(0, 0) is None and wilson(math.nan, 10) is None


def test_wilson_narrows_with_more_trials_and_widens_with_the_level() -> None:
    small, large = wilson(10, 1000), wilson(100, 10_000)
    assert small is not None and large is not None
    assert large.high - large.low < (small.high - small.low) / 3
    wide = wilson(10, 1000, level=0.99)
    assert wide is not None and wide.low < small.low and wide.high > small.high


# ---- histogram quantiles -------------------------------------------------------------------------


HISTOGRAMS = [
    [(0.0005, 60.0), (0.001, 90.0), (0.0025, 98.0), (0.005, 100.0), (INF, 100.0)],
    [(0.001, 80.0), (0.005, 80.0), (0.01, 100.0), (INF, 100.0)],  # an empty bucket between two full ones
    [(0.001, 10.0), (0.005, 50.0), (INF, 100.0)],  # half of it in the +Inf bucket
    [(0.005, 3.5), (0.01, 7.25), (INF, 7.25)],  # extrapolated, fractional counts
]


@pytest.mark.parametrize("buckets", HISTOGRAMS)
@pytest.mark.parametrize("q", [0.01, 0.5, 0.9, 0.95, 0.99, 0.999])
def test_bucket_quantile_is_prometheus_histogram_quantile(buckets: list[tuple[float, float]], q: float) -> None:
    """Against the independent implementation of promql/quantile.go in tests/support/promdata.py."""
    assert bucket_quantile(q, buckets) == pytest.approx(histogram_quantile(q, buckets), rel=1e-12)


def test_buckets_are_read_as_histogram_quantile_reads_them() -> None:
    # Two spellings of one bound add up; a non-monotonic count (separately extrapolated) is raised to its left.
    ordered = prepare_buckets([(INF, 100.0), (0.001, 30.0), (0.001, 30.0), (0.0025, 55.0), (0.005, 100.0)])
    assert ordered == [(0.001, 60.0), (0.0025, 60.0), (0.005, 100.0), (INF, 100.0)]
    assert prepare_buckets([(0.001, 10.0), (0.005, 10.0)]) is None  # no +Inf bucket
    assert prepare_buckets([(0.001, 0.0), (INF, 0.0)]) is None  # no observations
    assert quantile_interval(0.95, [(0.001, 0.0), (INF, 0.0)]) is None


@pytest.mark.parametrize("buckets", HISTOGRAMS)
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_the_quantile_interval_holds_the_estimate(buckets: list[tuple[float, float]], q: float) -> None:
    got = quantile_interval(q, buckets)
    assert got is not None and got.method == "histogram ranks" and got.level == 0.95
    assert got.low <= bucket_quantile(q, buckets) <= got.high


def test_the_quantile_interval_narrows_with_traffic() -> None:
    buckets = HISTOGRAMS[0]
    few = quantile_interval(0.95, buckets)
    many = quantile_interval(0.95, [(b, c * 100) for b, c in buckets])
    assert few is not None and many is not None
    assert many.high - many.low < (few.high - few.low) / 5
    assert many.low <= bucket_quantile(0.95, buckets) <= many.high


def test_no_observation_past_the_largest_bound_leaves_the_upper_end_open() -> None:
    # 3 of 3,000 observations above the p99.9 rank, none above 5 ms: nothing bounds the 99.9th from above.
    buckets = [(0.0025, 2940.0), (0.005, 3000.0), (INF, 3000.0)]
    got = quantile_interval(0.999, buckets)
    assert got is not None and got.high == INF and 0.0025 < got.low < bucket_quantile(0.999, buckets)
    half_in_inf = quantile_interval(0.95, HISTOGRAMS[2])
    assert half_in_inf is not None and half_in_inf.high == INF and half_in_inf.low > 0.001


def test_with_fine_buckets_it_is_the_classical_rank_interval() -> None:
    """A bucket per observation: the interval of ranks q·n ± z·sqrt(n·q(1-q)) read off the order statistics."""
    rng = np.random.default_rng(SEED)
    values = np.sort(rng.lognormal(math.log(3e-4), 0.4, 4000))
    buckets = [(float(v), float(i + 1)) for i, v in enumerate(values)] + [(INF, 4000.0)]
    got = quantile_interval(0.95, buckets)
    spread = 1.959963984540054 * math.sqrt(4000 * 0.95 * 0.05)
    low_rank, high_rank = 0.95 * 4000 - spread, 0.95 * 4000 + spread
    assert got is not None
    # Between the order statistics either side of each rank (interpolation moves it no further).
    assert values[math.floor(low_rank) - 1] <= got.low <= values[math.ceil(low_rank) - 1]
    assert values[math.floor(high_rank) - 1] <= got.high <= values[math.ceil(high_rank) - 1]


def test_straddles_reads_bounds_as_inclusive() -> None:
    interval = Interval(0.0004, 0.0005, 0.95, "histogram ranks")
    assert not interval.straddles(None, 0.0005)  # every value in it is <= max: passes
    assert interval.straddles(None, 0.00045)
    assert not interval.straddles(0.0004, None)  # every value >= min
    assert interval.straddles(0.00045, None)
    assert not Interval(0.0005, 0.0005, 0.95, "x").straddles(0.0005, 0.0005)


# ---- coverage -------------------------------------------------------------------------------------


def sample_histograms(rng: np.random.Generator, median: float, sigma: float, n: int, trials: int) -> np.ndarray:
    """Cumulative counts per bound of BOUNDS (rows: trials) of n lognormal latencies, bucketed as an exporter does."""
    values = rng.lognormal(math.log(median), sigma, size=(trials, n))
    index = np.searchsorted(np.asarray(LATENCY_BUCKETS), values, side="left")  # the first bound >= value
    flat = (index + np.arange(trials)[:, None] * len(BOUNDS)).ravel()
    per_bucket = np.bincount(flat, minlength=trials * len(BOUNDS)).reshape(trials, len(BOUNDS))
    return np.cumsum(per_bucket, axis=1).astype(float)


def population_buckets(median: float, sigma: float) -> list[tuple[float, float]]:
    """The bucketed distribution itself: the share of the population at or under each bound."""
    shares = stats.lognorm(s=sigma, scale=median).cdf(np.asarray(LATENCY_BUCKETS))
    return [*zip(LATENCY_BUCKETS, (float(s) for s in shares), strict=True), (INF, 1.0)]


QUANTILE_SCENARIOS = [
    # (quantile, median s, sigma of log, events per window)
    (0.95, 3e-4, 0.4, 3000),  # the demo's Python cache p95: 3,150-3,400 events a run, around 480 µs
    (0.99, 2e-3, 0.8, 1000),
    (0.5, 3e-4, 1.2, 3000),
    (0.999, 3e-4, 0.4, 3000),  # a sparse tail: 3 expected observations above the quantile
    (0.95, 4.6e-4, 0.15, 300),  # a narrow distribution, most of it in two buckets
]


@pytest.mark.parametrize(("q", "median", "sigma", "n"), QUANTILE_SCENARIOS)
def test_quantile_intervals_cover_the_histograms_quantile_in_95_percent(q: float, median: float, sigma: float,
                                                                         n: int) -> None:
    """The truth: histogram_quantile of the bucketed population (what unlimited traffic would show)."""
    truth = bucket_quantile(q, population_buckets(median, sigma))
    rng = np.random.default_rng(SEED)
    histograms = sample_histograms(rng, median, sigma, n, TRIALS)
    covered = 0
    for row in histograms:
        got = quantile_interval(q, list(zip(BOUNDS, row.tolist(), strict=True)))
        assert got is not None
        covered += got.low <= truth <= got.high
    assert 0.93 <= covered / TRIALS <= 0.97, (covered / TRIALS, truth)


@pytest.mark.parametrize(("threshold", "median", "sigma", "n"), [(0.0005, 3e-4, 0.4, 3000), (0.001, 3e-4, 0.8, 500)])
def test_latency_ratio_intervals_cover_the_true_share_in_95_percent(threshold: float, median: float, sigma: float,
                                                                     n: int) -> None:
    """latencyRatio: the share at or under a bucket bound of the same synthetic histograms; the truth is the CDF."""
    truth = float(stats.lognorm(s=sigma, scale=median).cdf(threshold))
    rng = np.random.default_rng(SEED)
    good = sample_histograms(rng, median, sigma, n, TRIALS)[:, BOUNDS.index(threshold)]
    covered = 0
    for k in good.tolist():
        got = wilson(k, n)
        assert got is not None
        covered += got.low <= truth <= got.high
    assert 0.93 <= covered / TRIALS <= 0.97, (covered / TRIALS, truth)


@pytest.mark.parametrize(("share", "n"), [(0.01, 1000), (0.005, 3000), (0.05, 500)])
def test_error_ratio_intervals_cover_the_true_share_in_95_percent(share: float, n: int) -> None:
    rng = np.random.default_rng(SEED)
    errors = rng.binomial(n, share, size=TRIALS)
    covered = 0
    for k in errors.tolist():
        got = wilson(k, n)
        assert got is not None
        covered += got.low <= share <= got.high
    assert 0.93 <= covered / TRIALS <= 0.97, covered / TRIALS
