"""Human formatting of SLI values, bounds, intervals and statuses, shared by the table, JUnit and Markdown writers."""

from __future__ import annotations

import math

from sloguard.durations import iso as iso  # re-exported: the report writers stamp times with it
from sloguard.evaluate import Status, Verdict
from sloguard.intervals import Interval
from sloguard.numbers import format_number
from sloguard.spec.model import (
    Bound,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    MemoryGrowthSLI,
    Objective,
    PromQLRatioSLI,
    ThroughputSLI,
)

STATUS_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "no_data": "❔", "inconclusive": "❓"}


def format_value(objective: Objective, value: float | None) -> str:
    """A value in the unit its SLI speaks: ms or µs, %, req/s, bytes per period."""
    if value is None:
        return "no data"
    sli = objective.sli
    if isinstance(sli, LatencySLI):
        return format_seconds(value)
    if isinstance(sli, LatencyRatioSLI | ErrorRatioSLI | PromQLRatioSLI):
        return f"{value * 100:.3g} %"
    if isinstance(sli, ThroughputSLI):
        return f"{value:,.1f} req/s"
    if isinstance(sli, MemoryGrowthSLI):
        return f"{format_bytes(value)}/{format_period(sli.per_seconds)}"
    return format_number(round(value, 6))


def format_interval(objective: Objective, interval: Interval | None) -> str:
    """"470–530 µs", "99.1–99.6 %", "9.5 s–∞": both ends in one unit, with the digits that tell them apart."""
    if interval is None:
        return ""
    low, high = interval.low, interval.high
    if isinstance(objective.sli, LatencySLI):
        largest = high if math.isfinite(high) else low
        unit, scale = ("s", 1.0) if largest >= 1 else ("ms", 1e3) if largest >= 0.001 else ("µs", 1e6)
    else:
        unit, scale = "%", 100.0
    for digits in range(3, 7):
        low_text = f"{low * scale:.{digits}g}"
        high_text = f"{high * scale:.{digits}g}" if math.isfinite(high) else "∞"
        if low_text != high_text or low == high:
            break
    return f"{low_text}–{high_text} {unit}"


def format_level(interval: Interval) -> str:
    """"95 % CI"."""
    return f"{format_number(round(interval.level * 100, 6))} % CI"


def status_text(verdict: Verdict) -> str:
    """"pass", "no_data (12 events in the window, fewer than 100)", "fail, within noise: 95 % CI 470–530 µs"."""
    status, interval = verdict.status.value, verdict.interval
    if interval is not None and (verdict.within_noise or verdict.status is Status.INCONCLUSIVE):
        return f"{status}, within noise: {format_level(interval)} {format_interval(verdict.objective, interval)}"
    if verdict.status in (Status.NO_DATA, Status.INCONCLUSIVE) and verdict.reason:
        return f"{status} ({verdict.reason})"
    return status


def format_bound(objective: Objective, bound: Bound | None) -> str:
    """"≤ 5 ms", "≥ 99 %", "≥ 1 and ≤ 2"; "" for no bound."""
    if bound is None:
        return ""
    parts = []
    if bound.min is not None:
        parts.append(f"≥ {format_value(objective, bound.min)}")
    if bound.max is not None:
        parts.append(f"≤ {format_value(objective, bound.max)}")
    return " and ".join(parts)


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def format_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} B"


def format_period(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}"
    return f"{format_number(seconds)} s"
