"""Confidence intervals of check values from the counts in the window (docs/check.md#confidence-intervals).

Two intervals, both pure functions of counts, with nothing heavier than the standard library (a
core install of `sloguard check` has no numpy or scipy):

- a share of events (latencyRatio's good share, errorRatio's error share): Wilson's score interval;
- a latency quantile read from a classic histogram: an interval of ranks around q·n, mapped through
  the cumulative bucket counts with the linear interpolation of Prometheus's histogram_quantile.

Counts from increase() are extrapolated and need not be integers; both formulas take real counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from sloguard.conventions import CONFIDENCE_LEVEL

WILSON = "wilson"
HISTOGRAM_RANKS = "histogram ranks"


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval; `high` is math.inf when the histogram cannot bound it (the +Inf bucket)."""

    low: float
    high: float
    level: float
    method: str

    def straddles(self, bound_min: float | None, bound_max: float | None) -> bool:
        """Whether the interval holds values on both sides of either side of an inclusive bound."""
        # A max passes at equality (value <= max), a min too (value >= min): see spec.model.Bound.
        crosses_max = bound_max is not None and self.low <= bound_max < self.high
        crosses_min = bound_min is not None and self.low < bound_min <= self.high
        return crosses_max or crosses_min


def normal_quantile(level: float) -> float:
    """z of a two-sided interval at `level` (1.96 at 0.95)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(successes: float, trials: float, level: float = CONFIDENCE_LEVEL) -> Interval | None:
    """Wilson's score interval for the share successes/trials; None without trials.

    Chosen over Clopper–Pearson and Wald (docs/check.md): closed form, so no scipy in a check;
    coverage near the nominal level once the window holds about ten events of the rarer kind;
    never zero-width at 0 or n successes, where Wald's is.
    """
    if not trials > 0 or math.isnan(successes):
        return None
    z = normal_quantile(level)
    p = min(max(successes / trials, 0.0), 1.0)
    z2n = z * z / trials
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    # Exactly 0 (1) at no (every) success, which floating point misses by an ulp.
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return Interval(low, high, level, WILSON)


# ---- histogram quantiles ------------------------------------------------------------------------


Buckets = Sequence[tuple[float, float]]  # (upper bound, cumulative count), the +Inf bucket among them


def prepare_buckets(buckets: Buckets) -> list[tuple[float, float]] | None:
    """Buckets as histogram_quantile reads them, or None when no quantile exists.

    Sorted by bound; one entry per bound (an exporter's `le="1.0"` and a `le="1"` add up);
    cumulative counts forced monotonic, since increase() extrapolates each bucket on its own.
    """
    merged: dict[float, float] = {}
    for bound, count in buckets:
        if not math.isnan(bound) and not math.isnan(count):
            merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return None
    monotonic: list[tuple[float, float]] = []
    running = 0.0
    for bound, count in ordered:
        running = max(running, count)
        monotonic.append((bound, running))
    return monotonic if monotonic[-1][1] > 0 else None


def _bucket_at_rank(ordered: Sequence[tuple[float, float]], rank: float) -> int:
    """The first bucket whose cumulative count reaches `rank` (the +Inf bucket's index if none below it does)."""
    return next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)


def value_at_rank(ordered: Sequence[tuple[float, float]], rank: float, *, past_finite: float) -> float:
    """The value at `rank` as histogram_quantile interpolates it; `past_finite` for a rank in the +Inf bucket.

    Prometheus (promql/quantile.go) answers the largest finite bound there; an interval's upper end
    has no bound there and passes math.inf.
    """
    index = _bucket_at_rank(ordered, rank)
    if index == len(ordered) - 1:
        return past_finite
    upper, cumulative = ordered[index]
    if index == 0 and upper <= 0:
        return upper
    lower, below = (0.0, 0.0) if index == 0 else ordered[index - 1]
    in_bucket = cumulative - below
    if rank <= below or in_bucket <= 0:  # rank 0 in an empty first bucket: its lower edge
        return lower
    return lower + (upper - lower) * ((rank - below) / in_bucket)


def bucket_quantile(q: float, buckets: Buckets) -> float:
    """histogram_quantile(q) of bucket counts, as Prometheus computes it; NaN when there is none."""
    ordered = prepare_buckets(buckets)
    if ordered is None:
        return math.nan
    return value_at_rank(ordered, q * ordered[-1][1], past_finite=ordered[-2][0])


def bucket_share_under_hypothesis(below: float, in_bucket: float, above: float, q: float, w: float) -> float:
    """The bucket's share of the population, by maximum likelihood, were the q-quantile at fraction w across it.

    The hypothesis fixes p_below + w·p_bucket = q; with p_bucket = β the multinomial log-likelihood
    below·ln(q - wβ) + in_bucket·ln β + above·ln(1 - q - (1-w)β) is concave, and its maximum is the
    smaller root of w(1-w)·n·β² - K·β + in_bucket·q(1-q) = 0 (K below), capped where a share hits 0.
    """
    if in_bucket <= 0:
        return 0.0
    r, u = 1 - q, 1 - w
    n = below + in_bucket + above
    largest = min(q / w if w > 0 else math.inf, r / u if u > 0 else math.inf)
    k = in_bucket * (q * u + r * w) + below * w * r + above * u * q
    discriminant = k * k - 4 * w * u * n * in_bucket * q * r
    if discriminant < 0:
        return largest
    return min(largest, 2 * in_bucket * q * r / (k + math.sqrt(discriminant)))  # the smaller root, stably


_BISECTIONS = 48  # a bucket's width / 2**48 at most: far finer than any value printed


def quantile_interval(q: float, buckets: Buckets, level: float = CONFIDENCE_LEVEL) -> Interval | None:
    """The interval of the q-quantile the histogram would report with unlimited traffic; None without counts.

    A score interval of ranks, mapped through the cumulative bucket counts with histogram_quantile's
    linear interpolation. A value t at fraction w across bucket (a, c], which holds B of the n
    observations, has S(t) = C_a + w·B observations counted below it. Were t the quantile, S(t)
    would have mean q·n and variance n·[q(1-q) - w(1-w)·β]: the binomial(n, q) variance of a rank,
    less what spreading the bucket's observations evenly over it removes (β: the bucket's share,
    estimated under that hypothesis, as Wilson's interval takes a share's variance at the
    hypothesis). t is in the interval when S(t) lies within z standard deviations of q·n; the two
    ends are found by bisection from the estimate outwards. With narrow buckets (β -> 0) it is the
    classical rank interval q·n ± z·sqrt(n·q(1-q)). Above the largest finite bound nothing is
    interpolated, so an upper end there is unbounded (math.inf).
    """
    ordered = prepare_buckets(buckets)
    if ordered is None:
        return None
    finite, n = ordered[:-1], ordered[-1][1]
    z, end = normal_quantile(level), float(len(finite))

    def at(position: float) -> tuple[float, float, float]:
        """(value, S(value) - q·n, z standard deviations) at a position: bucket index + fraction across it."""
        index = min(int(position), len(finite) - 1)
        w = min(position - index, 1.0)
        upper, cumulative = finite[index]
        lower, below = (min(0.0, upper), 0.0) if index == 0 else finite[index - 1]
        in_bucket = cumulative - below
        share = bucket_share_under_hypothesis(below, in_bucket, n - cumulative, q, w)
        spread = z * math.sqrt(n * max(0.0, q * (1 - q) - w * (1 - w) * share))
        return lower + (upper - lower) * w, below + w * in_bucket - q * n, spread

    def crossing(inside: float, outside: float, accepts: Callable[[float], bool]) -> float:
        for _ in range(_BISECTIONS):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if accepts(middle) else (inside, middle)
        return at(inside)[0]

    def low_accepts(position: float) -> bool:
        _, offset, spread = at(position)
        return offset >= -spread

    def high_accepts(position: float) -> bool:
        _, offset, spread = at(position)
        return offset <= spread

    rank = q * n
    index = _bucket_at_rank(ordered, rank)
    if index == len(ordered) - 1:  # the estimate is past the largest finite bound
        estimate = end
    else:
        below = 0.0 if index == 0 else ordered[index - 1][1]
        estimate = index + (rank - below) / (ordered[index][1] - below)
    if not low_accepts(end):
        low = finite[-1][0]  # even the largest bound has too few observations under it
    elif low_accepts(0.0):
        low = at(0.0)[0]
    else:
        low = crossing(estimate, 0.0, low_accepts)
    # Past the largest finite bound S stays at its count there, so accepting that bound accepts all beyond it.
    high = math.inf if high_accepts(end) else crossing(estimate, end, high_accepts)
    return Interval(low, high, level, HISTOGRAM_RANKS)
