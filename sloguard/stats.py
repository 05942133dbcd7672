"""The statistics of `sloguard compare`: quantiles, bootstraps over requests and time blocks, rank tests.

Pure functions of arrays: no files, no options. numpy and scipy (the [load] extra) are imported
inside the functions, so that `sloguard check`, which imports compare, starts without them.
The memory-lean forms here (bincounts instead of sorts, no concatenated copies) give the same
numbers, bit for bit, as the direct ones: tests/unit/test_stats.py holds them to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float64]
    IntArray = NDArray[np.int64]
    IndexArray = NDArray[Any]  # block numbers: int32 or int64

_BLOCK_BIN_GROWTH = 1.005  # 0.5 %-wide log bins: the block bootstrap's quantile resolution
_BLOCK_BATCH = 500  # replicates per batch (bounds memory at batch x bins floats)
# Two timed samples are paired when they overlap for at least this share of the shorter one's span.
_PAIRED_OVERLAP = 0.5
MIN_BLOCKS = 3  # fewer time blocks give no spread to resample: inconclusive
# Ranks counted per distinct value reproduce scipy's float sums exactly while every sum is an exact
# integer in a double: tie groups below 2**17 (their cube below 2**53) and totals below 2**53.
_EXACT_TIE_GROUP = 2**17
_EXACT_SUM = 2**53


def quantile(sorted_values: FloatArray, q: float) -> float:
    """The inverted-CDF quantile: the order statistic x_(ceil(q n)), the one the bootstrap below resamples."""
    n = len(sorted_values)
    return float(sorted_values[max(0, min(n - 1, math.ceil(q * n) - 1))])


def bootstrap_quantile(sorted_values: FloatArray, q: float, resamples: int, rng: Any) -> FloatArray:
    """Bootstrap distribution of the q-quantile, drawn exactly without materialising resamples.

    A resample of size n from the sample is F_n^-1(U_1..U_n) with uniform U; its m-th order
    statistic (m = ceil(q n)) is F_n^-1(U_(m)) and U_(m) ~ Beta(m, n - m + 1). So each
    bootstrap replicate costs one Beta draw instead of an O(n) resample and partition.
    """
    import numpy as np

    n = len(sorted_values)
    m = max(1, min(n, math.ceil(q * n)))
    u = rng.beta(m, n - m + 1, size=resamples)
    idx = np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)
    return sorted_values[idx]


# ---- bootstraps over time blocks ----------------------------------------------------------------


@dataclass(frozen=True)
class _Blocks:
    """One side cut into time blocks: a histogram over shared log bins per block."""

    hist: FloatArray  # blocks x bins
    mids: FloatArray  # bin midpoints (a replicate's quantile is reported as one)


def _log_edges(*samples: FloatArray) -> FloatArray:
    import numpy as np

    lo = min(float(np.min(s, where=s > 0, initial=np.inf)) for s in samples)
    lo = lo if math.isfinite(lo) else 1e-9
    hi = max(max(float(s.max()) for s in samples), lo * 1.01)
    n_bins = int(math.log(hi / lo) / math.log(_BLOCK_BIN_GROWTH)) + 2
    return lo * _BLOCK_BIN_GROWTH ** np.arange(n_bins + 1, dtype=np.float64)


def _block_hist(values: FloatArray, block_index: IndexArray, n_blocks: int, edges: FloatArray) -> _Blocks:
    import numpy as np

    n_bins = len(edges) - 1
    cell = np.searchsorted(edges, values, side="right")
    cell -= 1
    np.clip(cell, 0, n_bins - 1, out=cell)
    offset = block_index.astype(np.int64)
    offset *= n_bins
    cell += offset
    del offset
    # Counts are whole numbers, so a bincount is the float histogram adding 1.0 per value would give.
    hist = np.bincount(cell, minlength=n_blocks * n_bins).reshape(n_blocks, n_bins).astype(np.float64)
    return _Blocks(hist, np.sqrt(edges[:-1] * edges[1:]))


def _replicates(sides: Sequence[_Blocks], qs: Sequence[float], resamples: int, rng: Any, *,
                paired: bool) -> list[dict[float, FloatArray]]:
    """Bootstrap quantiles per side; paired sides draw the same blocks in every replicate."""
    import numpy as np

    out: list[dict[float, list[FloatArray]]] = [{q: [] for q in qs} for _ in sides]
    done = 0
    while done < resamples:
        batch = min(_BLOCK_BATCH, resamples - done)
        weights = None
        for side, result in zip(sides, out, strict=True):
            n_blocks = side.hist.shape[0]
            if weights is None or not paired:
                weights = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=batch).astype(np.float64)
            cum = np.cumsum(weights @ side.hist, axis=1)
            for q in qs:
                target = np.ceil(q * cum[:, -1])
                idx = (cum < target[:, None]).sum(axis=1)
                result[q].append(side.mids[np.clip(idx, 0, len(side.mids) - 1)])
        done += batch
    return [{q: np.concatenate(parts) for q, parts in result.items()} for result in out]


def _block_numbers(times: FloatArray, origin: float, block_seconds: float) -> IntArray:
    """floor((t - origin) / block) per time, as integers."""
    import numpy as np

    scaled = times - origin
    scaled /= block_seconds
    np.floor(scaled, out=scaled)
    return scaled.astype(np.int64)


def _renumber(*blocks: IntArray) -> tuple[list[IndexArray], int]:
    """The blocks numbered 0.. in order among those that hold a value (np.unique's inverse, without a sort).

    The arrays given are used up: shifted in place, to hold one copy of a side's blocks less.
    """
    import numpy as np

    base = min(int(b.min()) for b in blocks)
    for b in blocks:
        b -= base
    held = np.zeros(max(int(b.max()) for b in blocks) + 1, dtype=bool)
    for b in blocks:
        held[b] = True
    number = (np.cumsum(held) - 1).astype(np.int32 if len(held) < 2**31 else np.int64)
    return [number[b] for b in blocks], int(held.sum())


def count_blocks(times: FloatArray, block_seconds: float) -> int:
    """How many `block_seconds` blocks from the first time hold at least one time."""
    return _renumber(_block_numbers(times, float(times.min()), block_seconds))[1]


def block_bootstrap_quantiles(values: FloatArray, times: FloatArray, qs: Sequence[float], block_seconds: float,
                              resamples: int, rng: Any) -> dict[float, FloatArray]:
    """Bootstrap distributions of quantiles resampling whole time blocks (non-overlapping).

    Latency on a shared machine comes in episodes (a noisy neighbour, a GC pause): requests
    close in time are not independent, and an i.i.d. bootstrap then understates how much a
    quantile can move. Resampling blocks of `block_seconds` keeps each episode together. Each
    block is a histogram over 0.5 %-wide log bins, so a replicate is a weighted sum of block
    histograms (multinomial block counts @ block histograms) instead of a concatenation.
    Returned values are bin midpoints: within 0.25 % of the exact quantile of the replicate.
    """
    (block_index,), n_blocks = _renumber(_block_numbers(times, float(times.min()), block_seconds))
    side = _block_hist(values, block_index, n_blocks, _log_edges(values))
    return _replicates([side], qs, resamples, rng, paired=False)[0]


def paired_in_time(control_times: FloatArray, experiment_times: FloatArray) -> bool:
    """Were the two samples recorded at the same time (an interleaved run, or two groups of one run)?"""
    if not len(control_times) or not len(experiment_times):
        return False
    c0, c1 = float(control_times.min()), float(control_times.max())
    e0, e1 = float(experiment_times.min()), float(experiment_times.max())
    overlap = min(c1, e1) - max(c0, e0)
    return overlap > 0 and overlap >= _PAIRED_OVERLAP * min(c1 - c0, e1 - e0)


def paired_block_bootstrap_quantiles(control: FloatArray, control_times: FloatArray, experiment: FloatArray,
                                     experiment_times: FloatArray, qs: Sequence[float], block_seconds: float,
                                     resamples: int, rng: Any) -> tuple[dict[float, FloatArray],
                                                                        dict[float, FloatArray], int]:
    """Block bootstrap of two samples recorded side by side: a replicate draws the same time blocks for both.

    Whatever slowed the machine in a block slowed both sides, so it moves both quantiles of a
    replicate together and cancels in their ratio; only the difference between the sides is
    left to vary. Blocks are cut on one clock from the earlier start; requests outside the
    common span join the nearest common block. Returns both distributions and the block count.
    """
    import numpy as np

    origin = min(float(control_times.min()), float(experiment_times.min()))
    bc = _block_numbers(control_times, origin, block_seconds)
    be = _block_numbers(experiment_times, origin, block_seconds)
    first, last = max(int(bc.min()), int(be.min())), min(int(bc.max()), int(be.max()))
    for b in (bc, be):
        np.maximum(b, first, out=b)
        np.minimum(b, last, out=b)
    # Numbered by the blocks that hold requests: a gap in the recording is no block to draw.
    (bc, be), n_blocks = _renumber(bc, be)
    edges = _log_edges(control, experiment)
    sides = [_block_hist(control, bc, n_blocks, edges), _block_hist(experiment, be, n_blocks, edges)]
    boot_c, boot_e = _replicates(sides, qs, resamples, rng, paired=True)
    return boot_c, boot_e, n_blocks


def widen_for_few_blocks(ratio: float, lo: float, hi: float, blocks: int, alpha: float) -> tuple[float, float]:
    """Widen a percentile interval by t(blocks-1)/z around the estimate, in log space.

    With a few dozen blocks the percentile bootstrap is too narrow (it treats the block
    spread as known); the Student-t factor is the usual small-sample allowance for that.
    """
    if blocks < MIN_BLOCKS:
        return 0.0, math.inf
    factor = float(_t_quantile(1 - alpha / 2, blocks - 1) / _normal_quantile(1 - alpha / 2))
    centre = math.log(ratio)
    return (math.exp(centre + (math.log(lo) - centre) * factor),
            math.exp(centre + (math.log(hi) - centre) * factor))


def widen_for_processes(ratio: float, lo: float, hi: float, noise: float, processes: tuple[int, int],
                        alpha: float) -> tuple[float, float]:
    """Add the between-process spread to an interval, in log space (independent variance components).

    The bootstrap only sees requests; processes are fixed for a run, so a difference between the
    processes serving each side would pass for a difference between builds. Each side's mean
    process effect has variance noise**2 / processes.
    """
    z = float(_normal_quantile(1 - alpha / 2))
    extra = z * noise * math.sqrt(1 / processes[0] + 1 / processes[1])
    centre = math.log(ratio)
    below = math.hypot(centre - math.log(lo), extra)
    above = math.hypot(math.log(hi) - centre, extra)
    return math.exp(centre - below), math.exp(centre + above)


def _normal_quantile(q: float) -> float:
    """scipy.stats.norm.ppf(q) (which is special.ndtri), without importing scipy.stats (~45 MB, 0.35 s)."""
    from scipy import special

    return float(special.ndtri(q))


def _t_quantile(q: float, df: int) -> float:
    """scipy.stats.t.ppf(q, df) (which is special.stdtrit), without importing scipy.stats."""
    from scipy import special

    return float(special.stdtrit(df, q))


# ---- rank statistics ----------------------------------------------------------------------------


def hodges_lehmann(control: FloatArray, experiment: FloatArray, max_points: int) -> float:
    """Median of all pairwise differences experiment - control.

    Above max_points per side each sample is thinned deterministically to max_points evenly
    spaced quantiles (same shape, no RNG), which keeps the cost at max_points**2 pairs.
    """
    import numpy as np

    c = thin(np.sort(control), max_points)
    e = thin(np.sort(experiment), max_points)
    return float(np.median(np.subtract.outer(e, c)))


def hodges_lehmann_sorted(control: FloatArray, experiment: FloatArray, max_points: int, *, log: bool = False
                          ) -> float:
    """hodges_lehmann of two sorted samples (or of their logs), in the memory of one side at a time.

    Each side is thinned before the next is made, and a side is sorted again only when that
    could change it (it is not in order, or it holds a zero, whose sign a sort may swap).
    """
    import numpy as np

    thinned = [thin(_in_order(np.log(side) if log else side), max_points) for side in (control, experiment)]
    return float(np.median(np.subtract.outer(thinned[1], thinned[0])))


def _in_order(values: FloatArray) -> FloatArray:
    import numpy as np

    if not len(values) or (values == 0).any() or not bool(np.all(values[1:] >= values[:-1])):
        return np.sort(values)
    return values


def thin(sorted_values: FloatArray, k: int) -> FloatArray:
    """At most k evenly spaced quantiles of a sorted sample (the sample itself when it is that small)."""
    import numpy as np

    if len(sorted_values) <= k:
        return sorted_values
    return np.quantile(sorted_values, (np.arange(k) + 0.5) / k)


def mann_whitney(x_sorted: FloatArray, y_sorted: FloatArray) -> tuple[float, float]:
    """Mann-Whitney U of x and its two-sided p value: scipy.stats.mannwhitneyu(x, y), in less memory.

    scipy ranks the concatenated samples (several arrays of n1 + n2); on sorted samples the same
    tie-averaged ranks come from counts per distinct value. With ties and sums that are exact
    integers in a double, U and the tie term are the very floats scipy sums; otherwise (or for
    samples small enough that scipy may take its exact distribution) scipy is called.
    """
    import numpy as np
    from scipy import special

    n1, n2 = len(x_sorted), len(y_sorted)
    if min(n1, n2) <= 8:
        return _scipy_mann_whitney(x_sorted, y_sorted)
    values_x, count_x = _distinct(x_sorted)
    values_y, count_y = _distinct(y_sorted)
    values = np.union1d(values_x, values_y)
    count = np.zeros(len(values), dtype=np.int64)
    at_x = np.searchsorted(values, values_x)
    count[at_x] += count_x
    count[np.searchsorted(values, values_y)] += count_y
    below = np.cumsum(count) - count
    # A tie group's average rank is below + (count + 1) / 2; twice it is a whole number.
    twice_r1 = int(np.dot(count_x, 2 * below[at_x] + count[at_x] + 1))
    tie_term = int(np.sum(count**3 - count)) if int(count.max()) < _EXACT_TIE_GROUP else _EXACT_SUM
    if twice_r1 >= _EXACT_SUM or tie_term >= _EXACT_SUM:
        return _scipy_mann_whitney(x_sorted, y_sorted)
    # From here on, scipy's own formula and operand types (scipy/stats/_mannwhitneyu.py).
    r1 = np.float64(twice_r1) / 2
    u1 = r1 - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    u = np.maximum(u1, u2)
    n = n1 + n2
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - np.float64(tie_term) / (n * (n - 1))))
    numerator = u - n1 * n2 / 2
    numerator -= 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / s
    p = special.ndtr(-z) * 2
    return float(u1), float(np.clip(p, 0.0, 1.0))


def _scipy_mann_whitney(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    from scipy.stats import mannwhitneyu  # ~45 MB and 0.35 s to import: only for the samples it must take

    result = mannwhitneyu(x, y, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def _distinct(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct values of a sorted sample and how often each occurs."""
    import numpy as np

    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    return sorted_values[starts], np.diff(starts, append=len(sorted_values))
