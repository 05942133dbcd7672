"""Grafana's template variables for a Prometheus data source: values, All, formats and the built-ins.

What Grafana's TemplateSrv and its Prometheus data source do to a query before sending it:
`$var`, `${var}`, `[[var]]` and `${var:format}`; a multi-value or include-All variable
interpolated as a regex alternation `(a|b)` with regex-escaped values; All as the variable's
allValue (used verbatim) or else every option; and `$__interval`, `$__rate_interval`,
`$__range`, `$__range_s`, `$__range_ms`, `$__from`, `$__to` computed from the time range, the
panel's max data points and the data source's scrape interval.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sloguard.errors import UsageError

ALL = "$__all"
# Grafana's interval rounding (kbn.roundInterval): an interval below the bound (ms) becomes the value (ms).
_ROUND_MS = ((15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000), (3500, 2000),
             (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000), (90000, 60000),
             (210000, 120000), (450000, 300000), (1050000, 600000), (2100000, 1200000), (2700000, 1800000),
             (5400000, 3600000), (9000000, 7200000), (16200000, 10800000), (32400000, 21600000),
             (86400000, 43200000), (604800000, 86400000), (1814400000, 604800000),
             (3628800000, 2592000000))  # fmt: skip
_YEAR_MS = 31536000000
# Prometheus refuses a range query of more than 11,000 points; Grafana raises the step to stay under it.
_MAX_POINTS = 11000
# $var, ${var}, ${var:format}, ${var.field}, [[var]], [[var:format]] — Grafana's variableRegex.
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}")
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


@dataclass(frozen=True)
class Variable:
    """One dashboard variable after its options were resolved: what is selected, what All means."""

    name: str
    kind: str  # custom, query, datasource, constant, textbox, interval
    options: tuple[str, ...]
    selected: tuple[str, ...]  # (ALL,) when All is selected
    include_all: bool = False
    all_value: str | None = None
    multi: bool = False

    @property
    def is_all(self) -> bool:
        return ALL in self.selected

    def values(self) -> list[str]:
        """The concrete values: every option for All (Grafana's getAllValue without a custom allValue)."""
        return list(self.options) if self.is_all else list(self.selected)

    def shown(self) -> str:
        """How the header names the selection."""
        return "All" if self.is_all else ", ".join(self.selected)


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range and the data source's scrape interval, in seconds."""

    start: float
    end: float
    scrape_interval: float = 15.0

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Intervals:
    """Grafana's per-panel intervals: $__interval (the query step) and $__rate_interval, in seconds."""

    interval: float
    rate_interval: float


@dataclass
class Scope:
    """Everything a panel's query is interpolated with."""

    variables: Mapping[str, Variable]
    time: TimeRange
    intervals: Intervals
    used: set[str] = field(default_factory=set)


def round_interval(seconds: float) -> float:
    """Grafana's kbn.roundInterval, in seconds."""
    ms = seconds * 1000
    for bound, value in _ROUND_MS:
        if ms < bound:
            return value / 1000
    return _YEAR_MS / 1000


def panel_intervals(time: TimeRange, max_data_points: int, min_interval: float | None = None) -> Intervals:
    """$__interval and $__rate_interval as Grafana computes them for one panel.

    interval = round(range / max data points), at least the panel's min interval (else the scrape
    interval); rate interval = max(interval + scrape interval, 4 × scrape interval).
    """
    floor = time.scrape_interval if min_interval is None else min_interval
    interval = max(round_interval(time.seconds / max(1, max_data_points)), floor)
    interval = max(interval, time.seconds / _MAX_POINTS)
    rate = max(interval + time.scrape_interval, 4 * time.scrape_interval)
    return Intervals(interval, rate)


def format_interval(seconds: float) -> str:
    """An interval as Grafana's gtime.FormatInterval spells it: "500ms", "15s", "2m", "1h", "1d"."""
    ms = round(seconds * 1000)
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000)):  # fmt: skip
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    if ms >= 1000:
        return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
    return f"{max(1, ms)}ms"


def regex_escape(value: str) -> str:
    """Grafana's Prometheus regex escape of one value (prometheusSpecialRegexEscape)."""
    value = value.replace("\\", "\\\\\\\\")  # one backslash becomes four: a regex escape inside a PromQL string
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def _format(variable: Variable, fmt: str | None) -> str:
    if variable.is_all and variable.all_value is not None and fmt not in ("text", "percentencode"):
        return variable.all_value  # a custom all value goes in verbatim, whatever the format
    if fmt == "text":
        return "All" if variable.is_all else " + ".join(variable.values())
    values = variable.values()
    as_regex = fmt == "regex" or (not fmt and (variable.multi or variable.include_all))
    if as_regex and variable.kind not in ("datasource", "constant", "interval", "textbox"):
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "json":
        return json.dumps(values if len(values) != 1 else values[0])
    if fmt == "doublequote":
        return ",".join(f'"{v}"' for v in values)
    if fmt == "singlequote":
        return ",".join(f"'{v}'" for v in values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt in (None, "", "raw"):
        return ",".join(values)
    raise UsageError(f"variable ${{{variable.name}:{fmt}}}: unsupported format {fmt!r}")


def builtins(scope: Scope) -> dict[str, str]:
    t = scope.time
    range_s = max(0, math.floor(t.seconds))
    return {
        "__interval": format_interval(scope.intervals.interval),
        "__interval_ms": str(round(scope.intervals.interval * 1000)),
        "__rate_interval": format_interval(scope.intervals.rate_interval),
        "__rate_interval_ms": str(round(scope.intervals.rate_interval * 1000)),
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(round(t.seconds * 1000)),
        "__from": str(round(t.start * 1000)),
        "__to": str(round(t.end * 1000)),
    }


def interpolate(text: str, scope: Scope) -> str:
    """`text` with every variable Grafana would replace replaced; unknown names are left as they are."""
    extra = builtins(scope)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        field_path = match.group(5)
        if name in extra:
            scope.used.add(name)
            if name in ("__from", "__to") and fmt:
                return _time_format(scope.time.start if name == "__from" else scope.time.end, fmt)
            return extra[name]
        variable = scope.variables.get(name)
        if variable is None:
            return match.group(0)
        scope.used.add(name)
        if field_path in ("text",):
            return variable.shown()
        return _format(variable, fmt)

    return _VARIABLE.sub(replace, text)


def _time_format(at: float, fmt: str) -> str:
    """${__from:date:seconds} is unix seconds, ${__from:date} / ${__from:date:iso} RFC 3339; else milliseconds."""
    if fmt == "date:seconds":
        return str(math.floor(at))
    if fmt in ("date", "date:iso"):
        return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return str(round(at * 1000))


def custom_options(query: str) -> list[str]:
    """A custom variable's options: comma-separated, `text : value` pairs take the value (Grafana's rule)."""
    out = []
    for item in re.split(r"(?<!\\),", query):
        item = item.strip().replace("\\,", ",")
        if not item:
            continue
        text, sep, value = item.partition(" : ")
        out.append(value.strip() if sep else text)
    return out


def selection(raw: object, options: Sequence[str], *, include_all: bool) -> tuple[str, ...]:
    """The saved `current.value` (string or list), or the first option (All when offered), as Grafana does."""
    values = [raw] if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
    values = [v for v in values if v]
    if ALL in values and include_all:
        return (ALL,)
    kept = tuple(v for v in values if v in options or not options)
    if kept:
        return kept
    if include_all:
        return (ALL,)
    return (options[0],) if options else ()


def parse_overrides(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """--var NAME=VALUE[,VALUE...]; `All` or `$__all` selects All."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"\w+", name):
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        values = tuple(v.strip() for v in value.split(",") if v.strip())
        out[name] = (ALL,) if values in (("All",), (ALL,)) else values
    return out
