"""Simulated rollout plans for calibrating sloguard.rollout.sequential (benchmark and unit test share it).

A plan is SARK's (5 → 10 → 25 → 50 → 100 %) compressed: a constant request rate, Rust taking the
step's percent of it and Python the rest, a look every interval with both monitors on the step's
cumulative counts, a rollback at the first `harm`, a promotion once the step's looks and minimum
events per path are met. Errors are Bernoulli per request; latencies lognormal, bucketed with
conventions.LATENCY_BUCKETS (bucket counts drawn as a multinomial, the same as bucketing samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np

from sloguard.conventions import LATENCY_BUCKETS
from sloguard.rollout.sequential import HARM, ErrorRatioMonitor, LatencyMonitor, cumulative


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


def bucket_probabilities(median: float, sigma: float) -> np.ndarray:
    """P(latency in each LATENCY_BUCKETS bucket, the last past the largest bound) for a lognormal."""
    normal = NormalDist()
    cdf = [normal.cdf((math.log(bound) - math.log(median)) / sigma) for bound in LATENCY_BUCKETS]
    edges = np.array([0.0, *cdf, 1.0])
    return np.diff(edges)


def simulate_plan(scenario: Scenario, rng: np.random.Generator) -> PlanOutcome:
    """One plan: steps in order until a monitor says harm or every step is promoted."""
    python_probs = bucket_probabilities(scenario.median_seconds, scenario.sigma)
    rust_probs = bucket_probabilities(scenario.median_seconds * scenario.rust_slowdown, scenario.sigma)
    errors = ErrorRatioMonitor(scenario.error_margin, scenario.alpha, scenario.min_events)
    latency = LatencyMonitor(scenario.latency_quantile, scenario.latency_margin, scenario.alpha, scenario.min_events)
    looks_so_far = 0
    for step, (percent, looks) in enumerate(zip(scenario.percents, scenario.looks, strict=True)):
        rust_rate = scenario.requests_per_look * percent / 100
        python_rate = scenario.requests_per_look - rust_rate
        if step == 0 or scenario.window == "step":
            totals = np.zeros(2)
            error_counts = np.zeros(2)
            bucket_counts = np.zeros((2, len(python_probs)))
        step_start = totals.copy()
        look = 0
        while look < looks or (totals - step_start).min() < scenario.min_events:
            look += 1
            looks_so_far += 1
            for side, (rate, ratio, probs) in enumerate(((rust_rate, scenario.rust_error_ratio, rust_probs),
                                                         (python_rate, scenario.python_error_ratio, python_probs))):
                n = rng.poisson(rate)
                totals[side] += n
                error_counts[side] += rng.binomial(n, ratio)
                bucket_counts[side] += rng.multinomial(n, probs)
            error_evidence = errors.look(error_counts[0], totals[0], error_counts[1], totals[1])
            if error_evidence.decision == HARM:
                return PlanOutcome(step, "error ratio", looks_so_far)
            latency_evidence = latency.look(cumulative(LATENCY_BUCKETS, bucket_counts[0].tolist()),
                                            cumulative(LATENCY_BUCKETS, bucket_counts[1].tolist()))
            if latency_evidence.decision == HARM:
                return PlanOutcome(step, "latency", looks_so_far)
    return PlanOutcome(None, None, looks_so_far)


def simulate(scenario: Scenario, trials: int, seed: int) -> list[PlanOutcome]:
    rng = np.random.default_rng(seed)
    return [simulate_plan(scenario, rng) for _ in range(trials)]


def share_rolled_back(outcomes: list[PlanOutcome], before_step: int | None = None) -> float:
    """The share of plans rolled back (at a step index below `before_step` when given)."""
    hits = [o for o in outcomes if o.rolled_back_at is not None
            and (before_step is None or o.rolled_back_at < before_step)]
    return len(hits) / len(outcomes)


# The scenarios (docs/rollout.md#the-statistics): indexes into Scenario.percents.
STEP_25 = 2
STEP_50 = 3
CLEAN = Scenario("clean")
ERROR_FAULT = Scenario("rust error ratio +1 pp", rust_error_ratio=0.015)
LATENCY_FAULT = Scenario("rust 10 % slower", rust_slowdown=1.10)
