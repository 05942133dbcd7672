"""Human formatting of SLI values and bounds, shared by the table and Markdown writers."""

from __future__ import annotations

from sloguard.durations import iso as iso  # re-exported: the report writers stamp times with it
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

STATUS_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "no_data": "❔"}


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
