"""How sloguard prints numbers, the ways exporters spell a bucket bound, and a chart axis's round ticks."""

from __future__ import annotations

import math


def le_spellings(value: float) -> tuple[str, ...]:
    """The ways an exporter may spell a bucket bound: le="0.005", le="1e-05", le="1.0" or le="1".

    prometheus_client (which the OTel exporter uses) writes Python's repr ("1.0"),
    Go exporters write "1"; a threshold matcher accepts both so it never silently
    matches nothing.
    """
    if value == float("inf"):
        return ("+Inf",)
    text = repr(float(value))
    if text.endswith(".0"):
        return (text, text[:-2])
    return (text,)


def format_number(value: float) -> str:
    """Print a threshold as a clean decimal (0.001, not 0.0009999999999999432)."""
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    text = f"{value:.12g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^n apart)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks
