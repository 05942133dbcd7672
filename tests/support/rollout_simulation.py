"""Simulated and replayed rollout plans for calibrating sloguard.rollout.sequential (benchmark and unit tests).

A plan is SARK's (5 → 10 → 25 → 50 → 100 %) compressed: a constant request rate, Rust taking the
step's percent of it and Python the rest, a look every interval with both monitors on the window's
cumulative counts, a rollback at the first `harm`, a promotion once the step's looks and minimum
events per path are met. What each look adds to a path (requests, errors, latency bucket counts)
comes from a LookSource: LognormalSource simulates it (Bernoulli errors, lognormal latencies
bucketed with conventions.LATENCY_BUCKETS, bucket counts drawn as a multinomial, the same as
bucketing samples); ReplaySource resamples a recorded run's requests (a block bootstrap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Protocol

import numpy as np

from sloguard.conventions import IMPL_PYTHON, IMPL_RUST, LATENCY_BUCKETS
from sloguard.rollout.sequential import (
    HARM,
    ErrorRatioMonitor,
    LatencyMonitor,
    cumulative,
    histogram_quantile_estimate,
)
from sloguard.runs import STATUS_TRANSPORT_ERROR, read_latencies

RUST, PYTHON = 0, 1  # the sides of a look, in the monitors' argument order
BUCKETS = len(LATENCY_BUCKETS) + 1  # the last one past the largest bound (+Inf)


@dataclass(frozen=True)
class Scenario:
    """The truth of one simulated plan and the settings its monitors run with."""

    name: str
    python_error_ratio: float = 0.005
    rust_error_ratio: float = 0.005
    median_seconds: float = 0.0004  # the reference service's OPA path: p95 near 0.7 ms (docs/measurements.md)
    sigma: float = 0.35
    rust_slowdown: float = 1.0  # every Rust latency × this (so every quantile too)
    percents: tuple[int, ...] = (5, 10, 25, 50)  # the steps with a comparison; 100 % has no Python path
    looks: tuple[int, ...] = (28, 14, 14, 14)  # 14 d then 7 d each, a look per 12 h
    min_events: int = 3000  # per path and step, and the monitors' planned events
    error_margin: float = 0.001
    latency_quantile: float = 0.95
    latency_margin: float = 0.10
    alpha: float = 0.01
    window: str = "step"  # "step": counts from the step's start (the plan's design); "plan": from the plan's

    @property
    def requests_per_look(self) -> float:
        """The rate at which Rust meets min_events at the end of the first step's looks."""
        return self.min_events / (self.percents[0] / 100 * self.looks[0])

    def with_(self, **changes: object) -> Scenario:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PlanOutcome:
    """Where a plan ended: the index of the step it was rolled back in (None: reached 100 %) and by what."""

    rolled_back_at: int | None
    monitor: str | None
    looks: int


class LookSource(Protocol):
    """What one look adds to a path: (requests, errors, counts per LATENCY_BUCKETS bucket) at `rate` requests."""

    def draw(self, side: int, rate: float, rng: np.random.Generator) -> tuple[int, float, np.ndarray]: ...


def bucket_probabilities(median: float, sigma: float) -> np.ndarray:
    """P(latency in each LATENCY_BUCKETS bucket, the last past the largest bound) for a lognormal."""
    normal = NormalDist()
    cdf = [normal.cdf((math.log(bound) - math.log(median)) / sigma) for bound in LATENCY_BUCKETS]
    edges = np.array([0.0, *cdf, 1.0])
    return np.diff(edges)


class LognormalSource:
    """The scenario's truth: Poisson requests, Bernoulli errors, lognormal latencies (Rust's × rust_slowdown)."""

    def __init__(self, scenario: Scenario) -> None:
        self.ratios = (scenario.rust_error_ratio, scenario.python_error_ratio)
        self.probs = (bucket_probabilities(scenario.median_seconds * scenario.rust_slowdown, scenario.sigma),
                      bucket_probabilities(scenario.median_seconds, scenario.sigma))

    def draw(self, side: int, rate: float, rng: np.random.Generator) -> tuple[int, float, np.ndarray]:
        # The order of the three draws is the simulation's since its first table: same seed, same numbers.
        n = rng.poisson(rate)
        return n, rng.binomial(n, self.ratios[side]), rng.multinomial(n, self.probs[side])


def simulate_plan(scenario: Scenario, rng: np.random.Generator, source: LookSource | None = None) -> PlanOutcome:
    """One plan: steps in order until a monitor says harm or every step is promoted."""
    source = source if source is not None else LognormalSource(scenario)
    errors = ErrorRatioMonitor(scenario.error_margin, scenario.alpha, scenario.min_events)
    latency = LatencyMonitor(scenario.latency_quantile, scenario.latency_margin, scenario.alpha, scenario.min_events)
    looks_so_far = 0
    for step, (percent, looks) in enumerate(zip(scenario.percents, scenario.looks, strict=True)):
        rust_rate = scenario.requests_per_look * percent / 100
        rates = (rust_rate, scenario.requests_per_look - rust_rate)
        if step == 0 or scenario.window == "step":
            totals = np.zeros(2)
            error_counts = np.zeros(2)
            bucket_counts = np.zeros((2, BUCKETS))
        step_start = totals.copy()
        look = 0
        while look < looks or (totals - step_start).min() < scenario.min_events:
            look += 1
            looks_so_far += 1
            for side in (RUST, PYTHON):
                n, side_errors, side_buckets = source.draw(side, rates[side], rng)
                totals[side] += n
                error_counts[side] += side_errors
                bucket_counts[side] += side_buckets
            error_evidence = errors.look(error_counts[RUST], totals[RUST], error_counts[PYTHON], totals[PYTHON])
            if error_evidence.decision == HARM:
                return PlanOutcome(step, "error ratio", looks_so_far)
            latency_evidence = latency.look(cumulative(LATENCY_BUCKETS, bucket_counts[RUST].tolist()),
                                            cumulative(LATENCY_BUCKETS, bucket_counts[PYTHON].tolist()))
            if latency_evidence.decision == HARM:
                return PlanOutcome(step, "latency", looks_so_far)
    return PlanOutcome(None, None, looks_so_far)


def simulate(scenario: Scenario, trials: int, seed: int, source: LookSource | None = None) -> list[PlanOutcome]:
    rng = np.random.default_rng(seed)
    return [simulate_plan(scenario, rng, source) for _ in range(trials)]


def share_rolled_back(outcomes: list[PlanOutcome], before_step: int | None = None) -> float:
    """The share of plans rolled back (at a step index below `before_step` when given)."""
    hits = [o for o in outcomes if o.rolled_back_at is not None
            and (before_step is None or o.rolled_back_at < before_step)]
    return len(hits) / len(outcomes)


# ---- replay: a recorded run's requests ----------------------------------------------------------


@dataclass(frozen=True)
class RecordedPath:
    """One implementation's recorded requests in send order: send time (unix s), latency (s), error or not."""

    sent: np.ndarray
    latency: np.ndarray
    error: np.ndarray  # bool: a transport error (status 0) or a 5xx, as the server's error counter sees it

    @property
    def requests(self) -> int:
        return len(self.latency)

    @property
    def seconds(self) -> float:
        return float(self.sent[-1] - self.sent[0]) if self.requests > 1 else 0.0

    @property
    def error_ratio(self) -> float:
        return float(self.error.mean())

    def quantile(self, q: float) -> float:
        """The raw quantile of the recorded latencies (numpy's linear interpolation)."""
        return float(np.quantile(self.latency, q))


def is_error(status: np.ndarray) -> np.ndarray:
    """The requests the server counts as failed: 5xx, and transport errors (no response at all)."""
    return (status == STATUS_TRANSPORT_ERROR) | (status >= 500)


def read_recording(latencies_csv: Path) -> dict[str, RecordedPath]:
    """The Rust and Python paths of a run's latencies.csv (read by sloguard.runs, its one owner)."""
    table = read_latencies(latencies_csv)
    if table is None:
        raise ValueError(f"{latencies_csv}: no latency rows")
    paths: dict[str, RecordedPath] = {}
    for impl in (IMPL_RUST, IMPL_PYTHON):
        rows = table.implementation == impl
        if rows.sum() < 2:
            raise ValueError(f"{latencies_csv}: fewer than 2 rows with implementation {impl}")
        paths[impl] = RecordedPath(table.sent[rows], table.latency[rows], is_error(table.status[rows]))
    return paths


def bucket_index(latency: np.ndarray) -> np.ndarray:
    """The LATENCY_BUCKETS bucket of each latency as the server's histogram counts it (le: value <= bound)."""
    return np.searchsorted(np.asarray(LATENCY_BUCKETS), latency, side="left")


def histogram_quantile(q: float, latency: np.ndarray) -> float:
    """What histogram_quantile reads for q over these latencies bucketed with LATENCY_BUCKETS."""
    counts = np.bincount(bucket_index(latency), minlength=BUCKETS)
    estimate = histogram_quantile_estimate(q, cumulative(LATENCY_BUCKETS, counts.tolist()))
    return math.nan if estimate is None else estimate.value


def scale_for_bucket_ratio(rust: np.ndarray, python: np.ndarray, ratio: float, q: float) -> float:
    """The factor on Rust's latencies at which histogram_quantile reads Rust's q-quantile as Python's × ratio."""
    # The read quantile only grows with the factor (every value moves up, so does every rank's
    # interpolation), so bisection finds it; on the log scale, as the factors span decades. It grows
    # in steps (a row crossing a bucket bound moves it), so the nearer side of the step is taken.
    target = ratio * histogram_quantile(q, python)
    low, high = 1e-3, 1e3
    for _ in range(100):
        middle = math.sqrt(low * high)
        if histogram_quantile(q, rust * middle) < target:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda factor: abs(histogram_quantile(q, rust * factor) - target))


class _Resampler:
    """A circular block bootstrap of one path: blocks of consecutive rows, counted by prefix sums."""

    def __init__(self, path: RecordedPath, latency_scale: float, block_rows: int) -> None:
        n = path.requests
        self.rows = n
        self.block = max(1, min(block_rows, n))
        # The rows twice over, so a block that runs past the end wraps to the start (circular blocks:
        # every row is equally likely to be drawn); prefix sums make a block's counts two lookups.
        onehot = np.zeros((2 * n + 1, BUCKETS), dtype=np.int64)
        doubled = np.tile(bucket_index(path.latency * latency_scale), 2)
        onehot[np.arange(1, 2 * n + 1), doubled] = 1
        self.buckets = np.cumsum(onehot, axis=0)
        self.errors = np.concatenate([[0], np.cumsum(np.tile(path.error, 2))])

    def draw(self, n: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """(errors, bucket counts) of n rows: whole blocks from random starts, the last one cut short."""
        if n == 0:
            return 0, np.zeros(BUCKETS, dtype=np.int64)
        k = -(-n // self.block)
        starts = rng.integers(0, self.rows, k)
        ends = starts + self.block
        ends[-1] = starts[-1] + n - self.block * (k - 1)
        return (int((self.errors[ends] - self.errors[starts]).sum()),
                (self.buckets[ends] - self.buckets[starts]).sum(axis=0))


class ReplaySource:
    """Each look's requests of a path resampled from that implementation's recorded rows.

    Rows come in blocks of about `block_seconds` of the path's own traffic, consecutive in send order,
    so the recording's bursts and correlation (a GC pause, a slow second) come along. The request
    count of a look is Poisson at the plan's rate, as in the simulation. Faults and the boundary are
    transforms of Rust's rows: every latency × `rust_latency_scale` (so every quantile too), and
    `rust_error_ratio` reached by flipping each drawn success to an error (or error to success) with
    the probability that moves the recorded ratio there, independently per request.
    """

    def __init__(self, rust: RecordedPath, python: RecordedPath, *, rust_latency_scale: float = 1.0,
                 rust_error_ratio: float | None = None, python_latency_scale: float = 1.0,
                 block_seconds: float = 1.0) -> None:
        self.rust, self.python = rust, python
        self.rust_latency_scale = rust_latency_scale
        self.python_latency_scale = python_latency_scale
        self.sides = (_Resampler(rust, rust_latency_scale, _rows_per(rust, block_seconds)),
                      _Resampler(python, python_latency_scale, _rows_per(python, block_seconds)))
        recorded = rust.error_ratio
        target = recorded if rust_error_ratio is None else rust_error_ratio
        if not 0 <= target <= 1:
            raise ValueError(f"rust_error_ratio must be in [0, 1], not {target}")
        self.rust_error_ratio = target
        self.flip_up = (target - recorded) / (1 - recorded) if target > recorded else 0.0
        self.flip_down = (recorded - target) / recorded if target < recorded else 0.0

    @classmethod
    def at(cls, paths: dict[str, RecordedPath], *, rust_p95_over_python: float | None = None,
           rust_error_over_python: float | None = None, quantile: float = 0.95, read: str = "raw",
           level: float = 1.0, block_seconds: float = 1.0) -> ReplaySource:
        """Rust rescaled so its quantile is Python's × the ratio and its error ratio Python's + the excess.

        `read` says which quantile: "raw", the recorded latencies' own; "buckets", what
        histogram_quantile reads from them bucketed with LATENCY_BUCKETS, i.e. what the monitor
        compares. None leaves that side of Rust as recorded. `level` scales both paths first (Python's
        latencies × level), moving where the quantiles sit among the bucket bounds.
        """
        rust, python = paths[IMPL_RUST], paths[IMPL_PYTHON]
        if rust_p95_over_python is None:
            scale = level
        elif read == "raw":
            scale = level * rust_p95_over_python * python.quantile(quantile) / rust.quantile(quantile)
        elif read == "buckets":
            scale = scale_for_bucket_ratio(rust.latency, python.latency * level, rust_p95_over_python, quantile)
        else:
            raise ValueError(f"read must be raw or buckets, not {read!r}")
        ratio = None if rust_error_over_python is None else python.error_ratio + rust_error_over_python
        return cls(rust, python, rust_latency_scale=scale, rust_error_ratio=ratio, python_latency_scale=level,
                   block_seconds=block_seconds)

    @property
    def block_rows(self) -> tuple[int, int]:
        return self.sides[RUST].block, self.sides[PYTHON].block

    def draw(self, side: int, rate: float, rng: np.random.Generator) -> tuple[int, float, np.ndarray]:
        n = int(rng.poisson(rate))
        errors, buckets = self.sides[side].draw(n, rng)
        if side == RUST and self.flip_up:
            errors += int(rng.binomial(n - errors, self.flip_up))
        elif side == RUST and self.flip_down:
            errors -= int(rng.binomial(errors, self.flip_down))
        return n, errors, buckets


def _rows_per(path: RecordedPath, seconds: float) -> int:
    """How many of the path's rows it recorded in `seconds`, on average."""
    if path.seconds <= 0:
        return 1
    return max(1, round(path.requests / path.seconds * seconds))


# The scenarios (docs/rollout.md#the-statistics): indexes into Scenario.percents.
STEP_25 = 2
STEP_50 = 3
CLEAN = Scenario("clean")
ERROR_FAULT = Scenario("rust error ratio +1 pp", rust_error_ratio=0.015)
LATENCY_FAULT = Scenario("rust 10 % slower", rust_slowdown=1.10)
