"""Sequential Rust-vs-Python tests of a rollout step: error ratio and latency quantile (docs/rollout.md#the-statistics).

Each monitor is a one-sided always-valid test (a mixture sequential probability ratio test, Robbins'
normal mixture restricted to the harmful side) on the estimated difference d between Rust and
Python, minus the margin:

- error ratio: d = p_rust - p_python - margin;
- latency: d = ln Q_rust - ln Q_python - ln(1 + margin), Q the q-quantile histogram_quantile reads
  from the step's cumulative bucket counts.

With z = d̂ / se(d̂) after n effective events, the statistic z·√n behaves as a Brownian motion in n
whose drift is the standardised d. Mixing its likelihood ratio over a half-normal prior on that drift
(scale τ² = x*/planned) gives

    Λ(z, x) = 2 / √(1 + x) · exp(z² s² / 2) · Φ(z s),   s² = x / (1 + x),   x = τ² n,

a non-negative martingale while d ≤ 0, so by Ville's inequality P(sup over all looks Λ ≥ 1/α) ≤ α:
`harm` when Λ ≥ 1/α, at any number of looks, planned or not, with no memory of earlier looks (a
restarted controller looks again from the cumulative counts). The same mixture on -z declares `safe`
(d < 0 shown, at the same α). x* minimises the z boundary at the planned events, where the power is
wanted. Normal approximations: se from the plug-in variance of each side (binomial; a quantile's
rank variance q(1-q)n over the bucket's density), events independent within the window.
Standard library only, so `sloguard rollout status` starts fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from statistics import NormalDist
from typing import Any

from sloguard.intervals import Buckets, prepare_buckets, value_at_rank

HARM = "harm"
SAFE = "safe"
CONTINUE = "continue"

_NORMAL = NormalDist()
_BISECTIONS = 60
_Z_SEARCH_MAX = 40.0
_MIXTURE_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
_GOLDEN_STEPS = 60


@dataclass(frozen=True)
class Evidence:
    """One look: the decision, z, the z boundary at this look, the information fraction and JSON-ready details."""

    decision: str
    statistic: float
    boundary: float
    information: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the decision log; non-finite numbers as None (JSON has no NaN)."""
        return _finite(asdict(self))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


# ---- the mixture boundary -----------------------------------------------------------------------


def log_mixture_ratio(z: float, x: float) -> float:
    """ln Λ(z, x) of the half-normal mixture (module docstring); x = τ²·n > 0."""
    s = math.sqrt(x / (1 + x))
    tail = _NORMAL.cdf(z * s)
    log_tail = math.log(tail) if tail > 0 else _log_lower_tail(z * s)
    return math.log(2.0) - 0.5 * math.log1p(x) + 0.5 * (z * s) ** 2 + log_tail


def _log_lower_tail(u: float) -> float:
    """ln Φ(u) far in the lower tail (Mills' ratio), where Φ underflows."""
    return -0.5 * u * u - math.log(-u * math.sqrt(2 * math.pi))


def z_boundary(x: float, alpha: float) -> float:
    """The z at which ln Λ(z, x) reaches ln(1/α): Λ increases in z, so bisection finds it."""
    target = -math.log(alpha)
    low, high = 0.0, _Z_SEARCH_MAX
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        if log_mixture_ratio(middle, x) >= target:
            high = middle
        else:
            low = middle
    return high


@lru_cache(maxsize=64)
def best_mixture(alpha: float) -> float:
    """x* minimising the z boundary at the planned events (x = x* there): golden-section search over ln x."""
    start = min(_MIXTURE_GRID, key=lambda x: z_boundary(x, alpha))
    low, high = math.log(start / 2), math.log(start * 2)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(_GOLDEN_STEPS):
        a = high - ratio * (high - low)
        b = low + ratio * (high - low)
        if z_boundary(math.exp(a), alpha) < z_boundary(math.exp(b), alpha):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


def boundary_at(information: float, alpha: float) -> float:
    """The z boundary at an information fraction (effective events / planned events); inf before any event.

    Exact at every look (25 µs): a boundary rounded to serve a cache would no longer be the mixture's.
    """
    if not information > 0:
        return math.inf
    return z_boundary(best_mixture(alpha) * information, alpha)


def effective_events(a: float, b: float) -> float:
    """The two-sample effective size a·b/(a+b): the variance of a difference of means scales as 1/that."""
    return a * b / (a + b) if a > 0 and b > 0 else 0.0


def _decide(z: float, information: float, alpha: float) -> tuple[str, float]:
    boundary = boundary_at(information, alpha)
    if z >= boundary:
        return HARM, boundary
    if z <= -boundary:
        return SAFE, boundary
    return CONTINUE, boundary


def _check_settings(margin: float, alpha: float, planned_events: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, not {margin}")
    if not planned_events > 0:
        raise ValueError(f"planned_events must be > 0, not {planned_events}")


# ---- the monitors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRatioMonitor:
    """Rust's error ratio against Python's + margin (an absolute share, 0.001 = 0.1 percentage point)."""

    margin: float
    alpha: float
    planned_events: float

    def __post_init__(self) -> None:
        _check_settings(self.margin, self.alpha, self.planned_events)

    def look(self, rust_errors: float, rust_total: float, python_errors: float, python_total: float) -> Evidence:
        """The evidence from the step's cumulative counts so far (any number of looks keeps alpha)."""
        counts = {"rust_errors": rust_errors, "rust_total": rust_total,
                  "python_errors": python_errors, "python_total": python_total}
        details: dict[str, Any] = {"test": "error ratio", "margin": self.margin, "alpha": self.alpha,
                                   "planned_events": self.planned_events, **counts}
        if not (rust_total > 0 and python_total > 0):
            return Evidence(CONTINUE, 0.0, math.inf, 0.0, {**details, "reason": "no events on a path yet"})
        rust_ratio, python_ratio = rust_errors / rust_total, python_errors / python_total
        # Half an event added to the variance only: a path without errors yet has no zero variance.
        variance = _share_variance(rust_errors, rust_total) + _share_variance(python_errors, python_total)
        difference = rust_ratio - python_ratio - self.margin
        z = difference / math.sqrt(variance)
        information = effective_events(rust_total, python_total) / self.planned_events
        decision, boundary = _decide(z, information, self.alpha)
        half = boundary * math.sqrt(variance)
        details.update(rust_ratio=rust_ratio, python_ratio=python_ratio, difference=rust_ratio - python_ratio,
                       standard_error=math.sqrt(variance),
                       # The always-valid interval of the difference at this look: harm once `low` > margin.
                       low=rust_ratio - python_ratio - half, high=rust_ratio - python_ratio + half)
        return Evidence(decision, z, boundary, information, details)


def _share_variance(errors: float, total: float) -> float:
    share = (errors + 0.5) / (total + 1)
    return share * (1 - share) / total


@dataclass(frozen=True)
class QuantileEstimate:
    """histogram_quantile's value and the delta-method variance of its logarithm; None when it cannot be read."""

    value: float
    log_variance: float
    count: float


def histogram_quantile_estimate(q: float, buckets: Buckets) -> QuantileEstimate | None:
    """The interpolated q-quantile and Var(ln Q̂) ≈ q(1-q)·n / (slope·Q)², slope = bucket count / bucket width.

    The rank q·n has binomial variance q(1-q)·n; histogram_quantile maps ranks linearly across the
    bucket, so the value's variance is the rank's over the slope squared. None when the quantile
    lies in the +Inf bucket (no slope) or at a bucket holding nothing.
    """
    ordered = prepare_buckets(buckets)
    if ordered is None:
        return None
    total = ordered[-1][1]
    rank = q * total
    index = next((i for i in range(len(ordered) - 1) if ordered[i][1] >= rank), len(ordered) - 1)
    if index == len(ordered) - 1:
        return None
    upper, cumulative = ordered[index]
    lower, below = (0.0, 0.0) if index == 0 else ordered[index - 1]
    in_bucket = cumulative - below
    value = value_at_rank(ordered, rank, past_finite=ordered[-2][0])
    if in_bucket <= 0 or not value > 0:
        return None
    slope = in_bucket / (upper - lower)
    return QuantileEstimate(value, q * (1 - q) * total / (slope * value) ** 2, total)


# A quantile's delta-method variance leans on the density of events around it: read from a handful (three
# requests in one bucket looked certain, z ≈ 10, in a demo) it is far too small. Below this many expected
# events above the quantile on either path (200 for p95) the latency monitor says `continue`.
MIN_TAIL_EVENTS = 10


@dataclass(frozen=True)
class LatencyMonitor:
    """Rust's q-quantile against Python's × (1 + margin), both read from the same window's histograms."""

    quantile: float
    margin: float
    alpha: float
    planned_events: float

    def __post_init__(self) -> None:
        _check_settings(self.margin, self.alpha, self.planned_events)
        if not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), not {self.quantile}")

    def look(self, rust_buckets: Buckets, python_buckets: Buckets) -> Evidence:
        """The evidence from cumulative (upper bound, count) buckets of each path over the step so far."""
        details: dict[str, Any] = {"test": "latency quantile", "quantile": self.quantile, "margin": self.margin,
                                   "alpha": self.alpha, "planned_events": self.planned_events}
        rust = histogram_quantile_estimate(self.quantile, rust_buckets)
        python = histogram_quantile_estimate(self.quantile, python_buckets)
        if rust is None or python is None:
            return Evidence(CONTINUE, 0.0, math.inf, 0.0,
                            {**details, "reason": "no quantile on a path yet (no events, or in the +Inf bucket)"})
        tail = min(rust.count, python.count) * (1 - self.quantile)
        if tail < MIN_TAIL_EVENTS:
            return Evidence(CONTINUE, 0.0, math.inf, 0.0, {
                **details, "rust_total": rust.count, "python_total": python.count,
                "reason": f"fewer than {MIN_TAIL_EVENTS} events above the quantile on a path yet"})
        log_ratio = math.log(rust.value / python.value)
        variance = rust.log_variance + python.log_variance
        z = (log_ratio - math.log1p(self.margin)) / math.sqrt(variance)
        information = effective_events(rust.count, python.count) / self.planned_events
        decision, boundary = _decide(z, information, self.alpha)
        half = boundary * math.sqrt(variance)
        details.update(rust_quantile=rust.value, python_quantile=python.value, rust_total=rust.count,
                       python_total=python.count, ratio=math.exp(log_ratio),
                       # The always-valid interval of Rust/Python: harm once `low` > 1 + margin.
                       low=math.exp(log_ratio - half), high=math.exp(log_ratio + half))
        return Evidence(decision, z, boundary, information, details)


def cumulative(bounds: Sequence[float], counts: Sequence[float]) -> list[tuple[float, float]]:
    """Per-bucket counts (the last one past the largest bound) as cumulative (upper bound, count) buckets."""
    running = 0.0
    buckets = []
    for bound, count in zip([*bounds, math.inf], counts, strict=True):
        running += count
        buckets.append((bound, running))
    return buckets
