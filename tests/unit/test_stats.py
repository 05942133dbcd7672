"""sloguard.stats: the memory-lean forms give the very numbers of the direct ones (and of scipy), bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from sloguard import stats


def lognormal(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return rng.lognormal(math.log(0.002), 0.5, n) * scale


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or np.float64(a).tobytes() == np.float64(b).tobytes()


def scipy_mwu(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    result = mannwhitneyu(x, y, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


@pytest.mark.parametrize("case", ["continuous", "microseconds", "few values", "small", "unequal", "one big tie",
                                  "all tied", "disjoint"])
def test_mann_whitney_is_scipys_to_the_last_bit(case: str) -> None:
    rng = np.random.default_rng(7)
    if case == "continuous":
        x, y = lognormal(rng, 20000), lognormal(rng, 15000, 1.02)
    elif case == "microseconds":  # how latencies.csv records them: ties everywhere
        x, y = np.round(lognormal(rng, 50000), 6), np.round(lognormal(rng, 40000, 1.05), 6)
    elif case == "few values":
        x, y = rng.integers(0, 5, 30000).astype(float), rng.integers(1, 6, 20000).astype(float)
    elif case == "small":  # scipy's exact distribution territory
        x, y = lognormal(rng, 7), lognormal(rng, 12)
    elif case == "unequal":
        x, y = lognormal(rng, 9), lognormal(rng, 5000)
    elif case == "one big tie":  # a tie group past the exact-integer bound: scipy computes it
        x = np.concatenate([np.full(140_000, 0.002), lognormal(rng, 1000)])
        y = np.concatenate([np.full(10_000, 0.002), lognormal(rng, 1000)])
    elif case == "all tied":
        x, y = np.full(50, 1.0), np.full(60, 1.0)
    else:
        x, y = lognormal(rng, 3000), lognormal(rng, 3000) + 1.0
    x, y = np.sort(x), np.sort(y)
    ours, theirs = stats.mann_whitney(x, y), scipy_mwu(x, y)
    assert all(same_float(a, b) for a, b in zip(ours, theirs, strict=True)), (ours, theirs)


# ---- the direct forms the lean ones replace (as sloguard.compare computed them before) ---------


def direct_log_edges(*samples: np.ndarray) -> np.ndarray:
    values = np.concatenate(samples)
    positive = values[values > 0]
    lo = float(positive.min()) if len(positive) else 1e-9
    hi = max(float(values.max()), lo * 1.01)
    n_bins = int(math.log(hi / lo) / math.log(1.005)) + 2
    return lo * 1.005 ** np.arange(n_bins + 1, dtype=np.float64)


def direct_hist(values: np.ndarray, block_index: np.ndarray, n_blocks: int, edges: np.ndarray) -> np.ndarray:
    n_bins = len(edges) - 1
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    hist = np.zeros((n_blocks, n_bins))
    np.add.at(hist, (block_index, bins), 1.0)
    return hist


def direct_paired_blocks(tc: np.ndarray, te: np.ndarray, block: float) -> tuple[np.ndarray, np.ndarray, int]:
    origin = min(float(tc.min()), float(te.min()))
    bc = np.floor((tc - origin) / block).astype(np.int64)
    be = np.floor((te - origin) / block).astype(np.int64)
    first, last = max(int(bc.min()), int(be.min())), min(int(bc.max()), int(be.max()))
    ids, index = np.unique(np.concatenate([np.clip(bc, first, last), np.clip(be, first, last)]), return_inverse=True)
    return index[: len(bc)], index[len(bc):], len(ids)


def timed(rng: np.random.Generator, n: int, start: float, seconds: float, gap: tuple[float, float] | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    times = np.sort(start + rng.random(n) * seconds)
    if gap:
        times = times[(times < gap[0]) | (times > gap[1])]
    return np.round(lognormal(rng, len(times)), 6), times


@pytest.mark.parametrize("offset", [0.0, 7.3, 40.0, 95.0])
def test_paired_blocks_are_the_direct_ones(offset: float) -> None:
    rng = np.random.default_rng(11)
    c, tc = timed(rng, 30000, 1.8e9, 120.0, gap=(1.8e9 + 50, 1.8e9 + 71))
    e, te = timed(rng, 25000, 1.8e9 + offset, 120.0)
    bc, be, n_blocks = direct_paired_blocks(tc, te, 10.0)
    edges = direct_log_edges(c, e)
    assert np.array_equal(stats._log_edges(c, e), edges)
    assert np.array_equal(stats._block_hist(c, bc, n_blocks, edges).hist, direct_hist(c, bc, n_blocks, edges))
    boot = stats.paired_block_bootstrap_quantiles(c, tc, e, te, (0.5, 0.95), 10.0, 700, np.random.default_rng(3))
    mids = np.sqrt(edges[:-1] * edges[1:])
    sides = [stats._Blocks(direct_hist(c, bc, n_blocks, edges), mids),
             stats._Blocks(direct_hist(e, be, n_blocks, edges), mids)]
    reference = stats._replicates(sides, (0.5, 0.95), 700, np.random.default_rng(3), paired=True)
    assert boot[2] == n_blocks
    for q in (0.5, 0.95):
        assert np.array_equal(boot[0][q], reference[0][q]) and np.array_equal(boot[1][q], reference[1][q])


def test_block_bootstrap_and_block_count_are_the_direct_ones() -> None:
    rng = np.random.default_rng(12)
    values, times = timed(rng, 20000, 1.7e9, 200.0, gap=(1.7e9 + 30, 1.7e9 + 95))
    blocks = np.floor((times - times.min()) / 10.0).astype(np.int64)
    _, index = np.unique(blocks, return_inverse=True)
    edges = direct_log_edges(values)
    side = stats._Blocks(direct_hist(values, index, int(index.max()) + 1, edges), np.sqrt(edges[:-1] * edges[1:]))
    reference = stats._replicates([side], (0.5, 0.95), 900, np.random.default_rng(5), paired=False)[0]
    lean = stats.block_bootstrap_quantiles(values, times, (0.5, 0.95), 10.0, 900, np.random.default_rng(5))
    assert all(np.array_equal(lean[q], reference[q]) for q in (0.5, 0.95))
    assert stats.count_blocks(times, 10.0) == len(np.unique(np.floor((times - times.min()) / 10.0)))


def test_log_edges_without_positive_values_start_at_a_nanosecond() -> None:
    zeros = np.zeros(10)
    assert np.array_equal(stats._log_edges(zeros, zeros), direct_log_edges(zeros, zeros))
    assert stats._log_edges(zeros)[0] == 1e-9


@pytest.mark.parametrize("alpha", [0.0001, 0.001, 0.01, 0.05, 0.2, 0.5])
def test_the_quantiles_from_scipy_special_are_scipy_stats_ones(alpha: float) -> None:
    from scipy.stats import norm, t

    assert same_float(stats._normal_quantile(1 - alpha / 2), float(norm.ppf(1 - alpha / 2)))
    for df in (2, 3, 9, 30, 89, 1000, 10**6):
        assert same_float(stats._t_quantile(1 - alpha / 2, df), float(t.ppf(1 - alpha / 2, df)))


@pytest.mark.parametrize("values", ["lognormal", "with zeros", "unsorted logs"])
def test_hodges_lehmann_of_sorted_samples_is_the_plain_one(values: str) -> None:
    rng = np.random.default_rng(21)
    c, e = np.sort(np.round(lognormal(rng, 30000), 6)), np.sort(np.round(lognormal(rng, 20000, 1.1), 6))
    if values == "with zeros":
        c[:50] = 0.0
    if values == "unsorted logs":  # not a sorted input: the lean form sorts it as the plain one does
        c = c[::-1].copy()
    assert same_float(stats.hodges_lehmann_sorted(c, e, 1000), stats.hodges_lehmann(c, e, 1000))
    if values != "with zeros":
        assert same_float(stats.hodges_lehmann_sorted(c, e, 1000, log=True),
                          stats.hodges_lehmann(np.log(c), np.log(e), 1000))
