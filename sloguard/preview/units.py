"""Grafana's value formatting: units (s, ms, µs, percentunit, reqps, bytes, short, ...) and decimals.

Ported from the behaviour of Grafana's `valueFormats` (toSeconds, toPercentUnit, scaledUnits,
simpleCountUnit, getDecimalsForValue) so a preview prints what a Grafana panel prints:
0.0004 with unit `s` is "400 µs", 0.05 with `percentunit` is "5%". An unknown unit id is shown
as a suffix, as Grafana does with custom units.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Formatter = Callable[[float, int | None], str]

# Grafana's short and count scales (valueFormats.ts: scaledUnits(1000, [...])).
_SHORT = ("", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept")
_COUNT = ("", "K", "M", "B", "T")
_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
_SI_BYTES = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def auto_decimals(value: float) -> int:
    """Grafana's getDecimalsForValue: three significant digits, none for whole numbers."""
    if value == 0 or not math.isfinite(value):
        return 0
    magnitude = math.floor(math.log10(abs(value)))
    decimals = -magnitude + 1
    norm = abs(value) / 10 ** (-decimals)
    if norm > 2.25:
        decimals += 1
    if float(value).is_integer():
        decimals = 0
    return max(0, decimals)


def to_fixed(value: float, decimals: int | None = None) -> str:
    """A number as Grafana's toFixed prints it (auto decimals unless given)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    places = auto_decimals(value) if decimals is None else max(0, decimals)
    text = f"{value:.{places}f}"
    return text.lstrip("-") if float(text) == 0 else text  # never "-0"


def _scaled(factor: float, suffixes: tuple[str, ...], *, space: str = "") -> Formatter:
    def fmt(value: float, decimals: int | None) -> str:
        if not math.isfinite(value):
            return to_fixed(value, decimals)
        steps = 0
        scaled = value
        while abs(scaled) >= factor and steps < len(suffixes) - 1:
            scaled /= factor
            steps += 1
        return f"{to_fixed(scaled, decimals)}{space}{suffixes[steps]}"

    return fmt


def _count(symbol: str) -> Formatter:
    scale = _scaled(1000, _COUNT)

    def fmt(value: float, decimals: int | None) -> str:
        return f"{scale(value, decimals)} {symbol}"

    return fmt


def _suffix(text: str) -> Formatter:
    return lambda value, decimals: f"{to_fixed(value, decimals)}{text}"


# Time units: (threshold below which this step applies, divisor from the base, suffix), Grafana's ladder.
_SECONDS = ((1e-6, 1e-9, " ns"), (1e-3, 1e-6, " µs"), (1, 1e-3, " ms"), (60, 1, " s"), (3600, 60, " min"),
            (86400, 3600, " hour"), (604800, 86400, " day"), (31536000, 604800, " week"),
            (math.inf, 31536000, " year"))  # fmt: skip


def _time(base: float) -> Formatter:
    """A time unit whose values are `base` seconds each (s: 1, ms: 1e-3, µs: 1e-6, ns: 1e-9)."""
    own_suffix = {1.0: " s", 1e-3: " ms", 1e-6: " µs", 1e-9: " ns"}[base]

    def fmt(value: float, decimals: int | None) -> str:
        if not math.isfinite(value):
            return to_fixed(value, decimals)
        if value == 0:
            return f"0{own_suffix}"
        seconds = value * base
        for limit, divisor, suffix in _SECONDS:
            # Grafana's toSeconds scales down to ns; ms, µs and ns never go below themselves.
            if base != 1 and divisor < base * (1 - 1e-9):
                continue
            if abs(seconds) < limit:
                return f"{to_fixed(seconds / divisor, decimals)}{suffix}"
        raise AssertionError("the ladder ends at infinity")  # pragma: no cover

    return fmt


_UNITS: dict[str, Formatter] = {
    "s": _time(1), "ms": _time(1e-3), "µs": _time(1e-6), "us": _time(1e-6), "ns": _time(1e-9),
    "dtdurations": _time(1),
    "percentunit": lambda value, decimals: f"{to_fixed(value * 100, decimals)}%",
    "percent": _suffix("%"),
    "short": _scaled(1000, _SHORT),
    "none": lambda value, decimals: to_fixed(value, decimals),
    "": lambda value, decimals: to_fixed(value, decimals),
    "reqps": _count("req/s"), "rps": _count("rd/s"), "wps": _count("wr/s"), "iops": _count("io/s"),
    "ops": _count("ops"), "opm": _count("ops/min"), "reqpm": _count("req/min"),
    "bytes": _scaled(1024, _IEC, space=" "), "decbytes": _scaled(1000, _SI_BYTES, space=" "),
    "bits": _scaled(1024, tuple(s.replace("B", "b") for s in _IEC), space=" "),
    "x": _suffix(" x"),
}  # fmt: skip


def formatter(unit: str | None) -> Formatter:
    """The formatter of a Grafana unit id; `suffix:`/`prefix:` custom units and unknown ids as suffixes."""
    unit = (unit or "").strip()
    if unit in _UNITS:
        return _UNITS[unit]
    kind, sep, rest = unit.partition(":")
    if sep and kind == "suffix":
        return _suffix(rest)
    if sep and kind == "prefix":
        return lambda value, decimals: f"{rest}{to_fixed(value, decimals)}"
    if sep and kind == "count":
        return _count(rest)
    return _suffix(f" {unit}")


def format_value(value: float, unit: str | None, decimals: int | None = None) -> str:
    """`value` as Grafana shows it in `unit` with `decimals` (auto when None); NaN and ±Inf without a unit."""
    if not math.isfinite(value):
        return to_fixed(value, decimals)
    return formatter(unit)(value, decimals)


def is_time_unit(unit: str | None) -> bool:
    return (unit or "") in ("s", "ms", "µs", "us", "ns", "dtdurations")
