"""Counting a load run's requests: log-bucketed histograms and outcome counts (the rows go to sloguard.runs)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloguard.conventions import IMPLEMENTATIONS
from sloguard.runs import STATUS_TRANSPORT_ERROR, copy_in_window

# 1 % wide buckets from 1 µs: a percentile read from them is within 1 % of the exact one,
# at a fixed cost per request and fixed memory whatever the run length.
_MIN_LATENCY = 1e-6
_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_BUCKETS = int(math.log(1000.0 / _MIN_LATENCY) / _LOG_GROWTH) + 2  # up to 1,000 s


class Histogram:
    """Latency histogram with 1 %-wide logarithmic buckets."""

    __slots__ = ("count", "counts", "max", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        if seconds <= _MIN_LATENCY:
            index = 0
        else:
            index = min(int(math.log(seconds / _MIN_LATENCY) / _LOG_GROWTH) + 1, _BUCKETS - 1)
        self.counts[index] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: Histogram) -> None:
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float:
        """The q-quantile (upper bucket edge, so never under-reported); NaN when empty."""
        if self.count == 0:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(_MIN_LATENCY * _GROWTH**i, self.max) if i else _MIN_LATENCY
        return self.max

    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


@dataclass
class Counts:
    """What happened to the requests of one phase (or one second)."""

    scheduled: int = 0  # intended sends (open loop) or sends (closed loop)
    sent: int = 0
    completed: int = 0  # an HTTP response arrived
    ok: int = 0  # 2xx
    client_errors: int = 0  # 4xx: a malformed request or a bad token, never expected
    server_errors: int = 0  # 5xx
    transport_errors: int = 0  # refused, reset, timed out
    dropped: int = 0  # over the in-flight cap and the backlog bound: never sent
    late: int = 0  # sent more than the late threshold after their intended time
    by_implementation: dict[str, int] = field(default_factory=dict)
    histogram: Histogram = field(default_factory=Histogram)

    @property
    def errors(self) -> int:
        return self.client_errors + self.server_errors + self.transport_errors + self.dropped

    def error_ratio(self) -> float:
        done = self.completed + self.transport_errors + self.dropped
        return self.errors / done if done else 0.0

    def add_result(self, status: int, implementation: str, latency: float) -> None:
        if status == STATUS_TRANSPORT_ERROR:
            self.transport_errors += 1
            return
        self.completed += 1
        self.histogram.add(latency)
        if 200 <= status < 300:
            self.ok += 1
        elif 400 <= status < 500:
            self.client_errors += 1
        elif status >= 500:
            self.server_errors += 1
        if implementation:
            self.by_implementation[implementation] = self.by_implementation.get(implementation, 0) + 1

    def merge(self, other: Counts) -> None:
        for name in ("scheduled", "sent", "completed", "ok", "client_errors", "server_errors",
                     "transport_errors", "dropped", "late"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for impl, n in other.by_implementation.items():
            self.by_implementation[impl] = self.by_implementation.get(impl, 0) + n
        self.histogram.merge(other.histogram)

    def summary(self, seconds: float) -> dict[str, Any]:
        """The counts, rates and latency quantiles for run.json."""
        h = self.histogram
        return {
            "requests": {
                "scheduled": self.scheduled,
                "sent": self.sent,
                "completed": self.completed,
                "ok": self.ok,
                "late": self.late,
                "dropped": self.dropped,
            },
            "errors": {
                "total": self.errors,
                "ratio": round(self.error_ratio(), 6),
                "client_4xx": self.client_errors,
                "server_5xx": self.server_errors,
                "transport": self.transport_errors,
                "dropped": self.dropped,
            },
            "implementations": {impl: self.by_implementation.get(impl, 0) for impl in
                                sorted(set(IMPLEMENTATIONS) | set(self.by_implementation))},
            "latency_seconds": {
                "p50": _round(h.quantile(0.50)),
                "p95": _round(h.quantile(0.95)),
                "p99": _round(h.quantile(0.99)),
                "max": _round(h.max) if h.count else None,
                "mean": _round(h.mean()),
            },
            "achieved_rate": round(self.sent / seconds, 3) if seconds > 0 else None,
        }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 7)


def filter_window(sources: list[Path], dest: Path, start: float, end: float) -> Counts:
    """Merge raw latency files into `dest`, keeping rows intended inside [start, end]; their counts."""
    counts = Counts()
    for status, implementation, latency in copy_in_window(sources, dest, start, end):
        counts.scheduled += 1
        counts.sent += 1
        counts.add_result(status, implementation, latency)
    return counts
