"""Measurement: how often `sloguard check`'s 95 % intervals hold the truth, and the methods they were chosen over.

Run:  .venv/bin/python -m tests.benchmarks.interval_coverage   [--trials 4000] [--seed 14]

Quantiles: synthetic histograms (lognormal latencies, bucketed with LATENCY_BUCKETS, as the unit
test draws them); the truth is histogram_quantile of the bucketed population. Columns: sloguard's
score interval of ranks (sloguard.intervals.quantile_interval), the distribution-free interval of
ranks (binomial(n, q) quantiles l and u, X_(l) and X_(u+1) read through the same interpolation),
the same against the true quantile of the lognormal, and the rank interval with the variance
plugged in at the estimate. Shares: the exact coverage (a sum over the binomial distribution, no
simulation) of Wilson's, Clopper–Pearson's and Wald's intervals.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
from scipy import stats

from sloguard.intervals import bucket_quantile, prepare_buckets, quantile_interval, value_at_rank, wilson
from tests.unit.test_intervals import BOUNDS, population_buckets, sample_histograms

QUANTILE_SCENARIOS = [
    # (quantile, median s, sigma, events)
    (0.95, 3e-4, 0.4, 100), (0.95, 3e-4, 0.4, 300), (0.95, 3e-4, 0.4, 3000), (0.95, 3e-4, 0.4, 30000),
    (0.95, 4.6e-4, 0.15, 300), (0.95, 4.6e-4, 0.15, 3000), (0.99, 2e-3, 0.8, 1000), (0.99, 3e-4, 0.4, 200),
    (0.5, 3e-4, 1.2, 3000), (0.999, 3e-4, 0.4, 1000), (0.999, 3e-4, 0.4, 3000),
]
SHARE_SCENARIOS = [  # (share, events)
    (0.001, 1000), (0.003, 3000), (0.005, 3000), (0.01, 100), (0.01, 1000), (0.05, 500), (0.5, 100),
    (0.899, 3000), (0.99, 1000), (0.998, 3000),
]


def distribution_free(q: float, row: list[tuple[float, float]], n: int) -> tuple[float, float]:
    ordered = prepare_buckets(row)
    assert ordered is not None
    low_rank = float(stats.binom.ppf(0.025, n, q))
    high_rank = float(stats.binom.ppf(0.975, n, q)) + 1
    return (value_at_rank(ordered, low_rank, past_finite=ordered[-2][0]),
            value_at_rank(ordered, high_rank, past_finite=math.inf))


def plug_in_at_estimate(q: float, row: list[tuple[float, float]], n: int) -> tuple[float, float]:
    """Ranks q·n ± z·sqrt(n·v), v = q(1-q) - w(1-w)·B/n taken at the estimate (the first version tried)."""
    ordered = prepare_buckets(row)
    assert ordered is not None
    rank = q * n
    index = next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)
    variance = q * (1 - q)
    if index < len(ordered) - 1:
        below = 0.0 if index == 0 else ordered[index - 1][1]
        in_bucket = ordered[index][1] - below
        w = (rank - below) / in_bucket
        variance = max(0.0, variance - w * (1 - w) * in_bucket / n)
    spread = 1.959963984540054 * math.sqrt(n * variance)
    return (value_at_rank(ordered, max(0.0, rank - spread), past_finite=ordered[-2][0]),
            value_at_rank(ordered, rank + spread, past_finite=math.inf))


def quantile_table(trials: int, seed: int) -> None:
    print(f"quantiles ({trials} trials each): share of 95 % intervals holding the truth")
    print(f"{'q':>6} {'median':>8} {'sigma':>5} {'n':>6} | {'sloguard':>8} {'dist-free':>9} {'vs true q':>9} "
          f"{'plug-in':>8} | median width")
    for q, median, sigma, n in QUANTILE_SCENARIOS:
        truth = bucket_quantile(q, population_buckets(median, sigma))
        true_quantile = float(stats.lognorm(s=sigma, scale=median).ppf(q))
        rng = np.random.default_rng(seed)
        rows = [list(zip(BOUNDS, r.tolist(), strict=True)) for r in sample_histograms(rng, median, sigma, n, trials)]
        ours = [quantile_interval(q, row) for row in rows]
        free = [distribution_free(q, row, n) for row in rows]
        plug = [plug_in_at_estimate(q, row, n) for row in rows]
        covered = np.mean([i is not None and i.low <= truth <= i.high for i in ours])
        covered_true = np.mean([i is not None and i.low <= true_quantile <= i.high for i in ours])
        width = np.median([i.high - i.low for i in ours if i is not None])
        print(f"{q:>6} {median * 1e6:>6.0f}µs {sigma:>5} {n:>6} | {covered:>8.3f} "
              f"{np.mean([lo <= truth <= hi for lo, hi in free]):>9.3f} {covered_true:>9.3f} "
              f"{np.mean([lo <= truth <= hi for lo, hi in plug]):>8.3f} | {width * 1e6:.0f} µs "
              f"(truth {truth * 1e6:.0f} µs, true quantile {true_quantile * 1e6:.0f} µs)")


def exact_share_coverage(method: str, share: float, n: int) -> float:
    k = np.arange(n + 1)
    pmf = stats.binom.pmf(k, n, share)
    if method == "wilson":
        ends = [wilson(int(x), n) for x in k]
        low = np.array([e.low for e in ends if e])
        high = np.array([e.high for e in ends if e])
    elif method == "clopper-pearson":
        low = np.nan_to_num(stats.beta.ppf(0.025, k, n - k + 1), nan=0.0)
        high = np.nan_to_num(stats.beta.ppf(0.975, k + 1, n - k), nan=1.0)
    else:  # wald
        p = k / n
        half = 1.959963984540054 * np.sqrt(p * (1 - p) / n)
        low, high = p - half, p + half
    return float(pmf[(low <= share) & (share <= high)].sum())


def share_table() -> None:
    print("\nshares: exact coverage of 95 % intervals (sum over the binomial distribution)")
    print(f"{'share':>6} {'n':>5} {'n·p':>6} | {'wilson':>7} {'clopper-pearson':>15} {'wald':>6}")
    for share, n in SHARE_SCENARIOS:
        cells = [exact_share_coverage(m, share, n) for m in ("wilson", "clopper-pearson", "wald")]
        print(f"{share:>6} {n:>5} {share * n:>6.1f} | {cells[0]:>7.4f} {cells[1]:>15.4f} {cells[2]:>6.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    started = time.perf_counter()
    quantile_table(args.trials, args.seed)
    share_table()
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
