"""Series shaped like the reference SARK service (metric contract of docs/architecture.md), healthy on both
paths, for checking the repository's sloguard.yaml against a backfilled Prometheus.

Expected SLI values are computed here from the generated samples with plain arithmetic
(tests/support/promdata.py), never with sloguard's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.promdata import (
    COARSE_BUCKETS,
    INF,
    OpenMetrics,
    Window,
    bucket_increases,
    counter_points,
    gauge_points,
    histogram_points,
    histogram_quantile,
    in_window,
    least_squares_slope,
    window_increase,
)

JOB = "sark"
IMPLS = ("rust", "python")

# Observations per 60 s step inside the window, per upper bound (non-cumulative).
OPA_PER_STEP = {
    "rust": {0.00005: 700, 0.0001: 240, 0.00025: 60},
    "python": {0.001: 600, 0.0025: 340, 0.005: 60},
}
CACHE_PER_STEP = {  # per operation
    "rust": {0.00001: 500, 0.000025: 440, 0.00005: 60},
    "python": {0.0001: 600, 0.00025: 380, 0.0005: 20},
}
AUTHZ_PER_STEP = {  # per (decision, cache) series
    "rust": {0.00005: 300, 0.0001: 150, 0.00025: 50},
    "python": {0.001: 250, 0.0025: 200, 0.005: 49, 0.01: 1},
}
REQUESTS_PER_STEP = {
    "rust": {"allow": 80_000, "deny": 9_900, "error": 100},
    "python": {"allow": 50_000, "deny": 9_980, "error": 20},
}
MEMORY_SLOPES = {"sark-1": 20.0, "sark-2": 35.0}  # bytes per second inside the window
MEMORY_NOISE = (0.0, 40_000.0, -25_000.0, 10_000.0, -60_000.0, 30_000.0, 5_000.0)


@dataclass
class SarkData:
    """The OpenMetrics text and the expected value of every objective/group of sloguard.yaml."""

    window: Window
    openmetrics: str
    expected: dict[tuple[str, str], float] = field(default_factory=dict)  # (objective, group) -> value
    series: int = 0
    samples: int = 0


def build_sark_data(window: Window, *, extra_instances: int = 0) -> SarkData:
    """Healthy SARK metrics for both paths; `extra_instances` adds memory series (bigger datasets)."""
    om = OpenMetrics()
    expected: dict[tuple[str, str], float] = {}
    R = window.seconds

    for impl in IMPLS:
        group = f"implementation={impl}"
        base = {"job": JOB, "implementation": impl}

        opa = histogram_points(window, OPA_PER_STEP[impl], bounds=COARSE_BUCKETS)
        om.histogram("opa_evaluation_duration_seconds", base, opa)
        expected[("opa-p95-latency", group)] = histogram_quantile(0.95, bucket_increases(opa, window))

        cache_sum: dict[float, float] = {}
        for op in ("get", "set", "delete"):
            points = histogram_points(window, CACHE_PER_STEP[impl], bounds=COARSE_BUCKETS)
            om.histogram("cache_operation_duration_seconds", {**base, "operation": op}, points)
            for bound, inc in bucket_increases(points, window):
                cache_sum[bound] = cache_sum.get(bound, 0.0) + inc
        expected[("cache-p95-latency", group)] = histogram_quantile(0.95, sorted(cache_sum.items()))

        good = total = 0.0
        for decision in ("allow", "deny", "error"):
            for cache in ("hit", "miss", "bypass"):
                points = histogram_points(window, AUTHZ_PER_STEP[impl], bounds=COARSE_BUCKETS)
                labels = {**base, "decision": decision, "cache": cache}
                om.histogram("sark_authz_duration_seconds", labels, points)
                increases = dict(bucket_increases(points, window))
                good += increases[0.005]
                total += increases[INF]
        expected[("authz-within-5ms", group)] = good / total

        errors = all_requests = 0.0
        for decision, per_step in REQUESTS_PER_STEP[impl].items():
            points = counter_points(window, per_step, inc_out=per_step // 2)
            om.counter("sark_authz_requests_total", {**base, "decision": decision}, points)
            inc = window_increase(points, window)
            all_requests += inc
            if decision == "error":
                errors += inc
        expected[("authz-error-rate", group)] = errors / all_requests
        expected[("throughput", "")] = expected.get(("throughput", ""), 0.0) + all_requests / R

    slopes = dict(MEMORY_SLOPES)
    for i in range(extra_instances):
        slopes[f"sark-extra-{i}"] = 5.0 + i % 10
    worst = -INF
    for instance, slope in slopes.items():
        points = gauge_points(window, slope, slope_out=2_000.0, noise=MEMORY_NOISE)
        om.gauge("process_resident_memory_bytes", {"job": JOB, "instance": instance}, points)
        worst = max(worst, least_squares_slope(in_window(points, window)))
    expected[("memory-growth", "")] = worst * 3600

    return SarkData(window, om.text(), expected, om.series_count, om.sample_count)
