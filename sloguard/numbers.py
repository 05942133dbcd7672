"""How sloguard prints numbers, and the ways exporters spell a bucket bound."""

from __future__ import annotations


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
