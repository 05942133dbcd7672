"""A panel's queries run as Grafana's Prometheus data source runs them, and their answers shaped per panel type.

Time series targets: a range query over the dashboard's range with Grafana's step (the panel's
$__interval, start and end aligned to it). Instant targets, and every table target: an instant
query at the range's end. Stat and gauge values: the panel's reduceOptions calc over each
series. Legends from legendFormat's `{{label}}`. Annotations: a range query whose series'
runs of samples become events titled by titleFormat.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sloguard.durations import parse_duration
from sloguard.errors import BackendError
from sloguard.preview.model import Annotation, Dashboard, FieldConfig, Panel, field_for, mapping
from sloguard.preview.variables import (
    ALL,
    Intervals,
    Scope,
    TimeRange,
    Variable,
    custom_options,
    interpolate,
    panel_intervals,
    selection,
)
from sloguard.prometheus import Sample

Points = list[tuple[float, float]]
# Grafana draws a full-width panel about 1900 px wide: max data points follow the panel's width.
PIXELS_PER_COLUMN = 80
_LEGEND = re.compile(r"\{\{\s*(.+?)\s*\}\}")


class QueryClient(Protocol):
    """What the preview asks of Prometheus (sloguard.prometheus.PrometheusClient has both)."""

    def instant_query(self, query: str, at: float) -> list[Sample]: ...

    def range_query(self, query: str, start: float, end: float, step: float) -> list[tuple[dict[str, str], Points]]:
        ...


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    points: Points
    ref_id: str
    config: FieldConfig


@dataclass
class Query:
    """One query as sent: for the hover text and the <details> list."""

    ref_id: str
    expr: str
    kind: str  # range or instant
    step: float | None = None
    error: str = ""
    series: int = 0


@dataclass
class Event:
    at: float
    end: float
    title: str
    text: str
    color: str


@dataclass
class PanelData:
    panel: Panel
    series: list[Series] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)
    nan_values: int = 0
    events: list[Event] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [f"{q.ref_id}: {q.error}" for q in self.queries if q.error]

    @property
    def has_data(self) -> bool:
        return any(any(math.isfinite(v) for _, v in s.points) for s in self.series)


def legend(fmt: str, labels: Mapping[str, str], expr: str) -> str:
    """Grafana's series name: legendFormat with {{label}} filled, else the metric and its labels."""
    if fmt and fmt != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    name = labels.get("__name__", "")
    if not shown:
        return name or expr
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


# Grafana's standard reducers (fieldReducers), over the non-null, non-NaN values unless noted.
_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "lastNotNull": lambda v: v[-1], "last": lambda v: v[-1], "firstNotNull": lambda v: v[0],
    "first": lambda v: v[0], "mean": statistics.fmean, "max": max, "min": min, "sum": math.fsum,
    "count": lambda v: float(len(v)), "range": lambda v: max(v) - min(v), "delta": lambda v: _delta(v),
    "diff": lambda v: v[-1] - v[0], "median": statistics.median, "logmin": lambda v: min(x for x in v if x > 0),
    "allIsZero": lambda v: float(all(x == 0 for x in v)), "allIsNull": lambda v: 0.0,
    "changeCount": lambda v: float(sum(1 for a, b in itertools.pairwise(v) if a != b)),
    "distinctCount": lambda v: float(len(set(v))), "diffperc": lambda v: (v[-1] - v[0]) / v[0] * 100,
    "step": lambda v: min(v),
}  # fmt: skip
CALC_NAMES = {"lastNotNull": "Last *", "last": "Last", "firstNotNull": "First *", "first": "First",
              "mean": "Mean", "max": "Max", "min": "Min", "sum": "Total", "count": "Count", "range": "Range",
              "delta": "Delta", "diff": "Difference", "median": "Median"}  # fmt: skip


def _delta(values: list[float]) -> float:
    """Grafana's delta: the sum of increases, counter resets counted from zero."""
    total = 0.0
    for previous, current in itertools.pairwise(values):
        total += current - previous if current >= previous else current
    return total


def reduce(points: Sequence[tuple[float, float]], calc: str) -> float | None:
    """One reducer over a series; None when it has no finite value (Grafana's "No data")."""
    values = [v for _, v in points if math.isfinite(v)]
    if not values:
        return None
    fn = _REDUCERS.get(calc, _REDUCERS["lastNotNull"])
    try:
        return fn(values)
    except (ValueError, ZeroDivisionError, statistics.StatisticsError):
        return None


def resolve_variables(dashboard: Dashboard, client: QueryClient, time: TimeRange,
                      overrides: Mapping[str, tuple[str, ...]]) -> dict[str, Variable]:
    """Every templating variable with its options and selection; --var overrides win."""
    resolved: dict[str, Variable] = {}
    for raw in dashboard.variables:
        name = str(raw["name"])
        kind = str(raw.get("type") or "custom")
        include_all = bool(raw.get("includeAll"))
        all_value = raw.get("allValue")
        all_value = str(all_value) if isinstance(all_value, str) and all_value else None
        current = mapping(raw.get("current"))
        options: list[str]
        if kind == "datasource":
            options = [str(current.get("value") or raw.get("query") or "prometheus")]
        elif kind in ("custom", "interval"):
            options = custom_options(str(raw.get("query") or ""))
        elif kind == "constant":
            options = [str(raw.get("query") or "")]
        elif kind == "textbox":
            options = [str(current.get("value") or raw.get("query") or "")]
        elif kind == "query":
            scope = Scope(resolved, time, panel_intervals(time, 1000))
            options = _query_options(raw, client, time, scope)
        else:
            options = [str(v) for v in ([current.get("value")] if current.get("value") else [])]
        chosen = overrides.get(name)
        picked = chosen if chosen is not None else selection(current.get("value"), options, include_all=include_all)
        if ALL in picked and not include_all:
            picked = tuple(options)
        resolved[name] = Variable(name, kind, tuple(options), tuple(picked), include_all, all_value,
                                  bool(raw.get("multi")))  # fmt: skip
    return resolved


def _query_options(raw: Mapping[str, object], client: QueryClient, time: TimeRange, scope: Scope) -> list[str]:
    """A query variable's options: label_values(...) / query_result(...) asked of Prometheus over the range."""
    query = raw.get("query")
    text = str(query.get("query") or "") if isinstance(query, Mapping) else str(query or raw.get("definition") or "")
    text = interpolate(text.strip(), scope)
    found: list[str] = []
    range_s = f"{max(1, math.ceil(time.seconds))}s"
    if m := re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\s*\)", text, re.S):
        selector, label = (m.group(1) or "").strip(), m.group(2)
        selector = selector or f'{{{label}!=""}}'
        samples = client.instant_query(f"count by ({label}) (last_over_time({selector}[{range_s}]))", time.end)
        found = [s.labels[label] for s in samples if s.labels.get(label)]
    elif m := re.fullmatch(r"query_result\((.+)\)", text, re.S):
        samples = client.instant_query(m.group(1), time.end)
        found = [legend("", s.labels, m.group(1)) + f" {s.value:g}" for s in samples]
    regex = raw.get("regex")
    if isinstance(regex, str) and regex.strip("/"):
        try:
            pattern = re.compile(regex.strip("/"))
        except re.error:
            pattern = None
        if pattern is not None:
            kept = []
            for value in found:
                if hit := pattern.search(value):
                    kept.append(hit.group(1) if hit.groups() else value)
            found = kept
    unique = list(dict.fromkeys(found))
    sort = raw.get("sort")
    if sort in (1, 2, 5, 6):
        unique.sort(key=str.lower, reverse=sort in (2, 6))
    elif sort in (3, 4):
        unique.sort(key=lambda v: float(v) if re.fullmatch(r"-?\d+(\.\d+)?", v) else math.inf, reverse=sort == 4)
    return unique


def scrape_interval(client: QueryClient, at: float) -> float | None:
    """The scrape interval Prometheus uses, from two consecutive samples of an `up` series.

    Grafana takes it from the data source's setting; the real value is what Prometheus does,
    so it is read from the samples: the last `up` sample's time, then the one before it
    (`@` one millisecond earlier). None when there is no `up` series to read it from.
    """
    try:
        last = client.instant_query("min(timestamp(up))", at)
        if not last or not math.isfinite(last[0].value):
            return None
        t1 = last[0].value
        series = client.instant_query("timestamp(up)", at)
        target = min((s for s in series if abs(s.value - t1) < 1e-6), key=lambda s: sorted(s.labels.items()),
                     default=None)  # fmt: skip
        if target is None:
            return None
        selector = "up{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(target.labels.items())) + "}"
        before = client.instant_query(f"timestamp({selector} @ {t1 - 0.001:.3f})", at)
    except BackendError:
        return None
    if not before or not math.isfinite(before[0].value) or t1 - before[0].value <= 0:
        return None
    return round(t1 - before[0].value, 1) or None


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def intervals_for(panel: Panel, time: TimeRange) -> Intervals:
    points = panel.max_data_points or panel.grid.w * PIXELS_PER_COLUMN
    return panel_intervals(time, points, _min_interval(panel.interval))


def _min_interval(text: str) -> float | None:
    """A panel's "Min interval" ("30s", ">10s"); None when unset or unreadable."""
    text = text.strip().lstrip(">")
    if not text or "$" in text:
        return None
    try:
        return max(parse_duration(text), 0.001)
    except ValueError:
        return None


def run_panel(panel: Panel, client: QueryClient, variables: Mapping[str, Variable], time: TimeRange,
              used: set[str]) -> PanelData:
    """Every visible target of the panel asked of Prometheus; errors kept per query, never raised."""
    data = PanelData(panel)
    if panel.type in ("row", "text"):
        return data
    intervals = intervals_for(panel, time)
    instant_panel = panel.type == "table"
    for target in panel.targets:
        if target.hide:
            continue
        scope = Scope(variables, time, intervals)
        expr = interpolate(target.expr, scope)
        used |= scope.used
        instant = instant_panel or (target.instant and not target.range) or target.format == "table"
        query = Query(target.ref_id, expr, "instant" if instant else "range")
        data.queries.append(query)
        try:
            if instant:
                answer = [(s.labels, [(time.end, s.value)]) for s in client.instant_query(expr, time.end)]
            else:
                step = max(intervals.interval, 0.001)
                query.step = step
                # Grafana aligns the range to the step so that points do not move as the range slides.
                start = math.floor(time.start / step) * step
                end = math.floor(time.end / step) * step
                answer = client.range_query(expr, start, max(end, start + step), step)
        except BackendError as exc:
            query.error = str(exc)
            continue
        query.series = len(answer)
        for labels, points in answer:
            data.nan_values += sum(1 for _, v in points if math.isnan(v))
            name = legend(target.legend_format, labels, expr)
            config = field_for(panel, name, target.ref_id)
            data.series.append(Series(config.display_name or name, labels, points, target.ref_id, config))
    return data


def run_annotations(annotations: Sequence[Annotation], client: QueryClient, variables: Mapping[str, Variable],
                    time: TimeRange, used: set[str]) -> tuple[list[Event], list[Query]]:
    """Grafana's Prometheus annotations: each series' runs of samples, one event per run."""
    events: list[Event] = []
    queries: list[Query] = []
    for annotation in annotations:
        if not annotation.enabled:
            continue
        intervals = panel_intervals(time, 1000)
        scope = Scope(variables, time, intervals)
        expr = interpolate(annotation.expr, scope)
        used |= scope.used
        step = _min_interval(annotation.step) or max(60.0, intervals.interval)
        query = Query(annotation.name, expr, "range", step)
        queries.append(query)
        try:
            answer = client.range_query(expr, math.floor(time.start / step) * step, time.end, step)
        except BackendError as exc:
            query.error = str(exc)
            continue
        query.series = len(answer)
        for labels, points in answer:
            run_start: float | None = None
            previous = -math.inf
            for at, value in points:
                if not math.isfinite(value):
                    continue
                if run_start is None or at - previous > step * 1.5:
                    if run_start is not None:
                        events.append(_event(annotation, labels, run_start, previous))
                    run_start = at
                previous = at
            if run_start is not None:
                events.append(_event(annotation, labels, run_start, previous))
    return events, queries


def _event(annotation: Annotation, labels: Mapping[str, str], start: float, end: float) -> Event:
    title = legend(annotation.title_format, labels, annotation.name) if annotation.title_format else annotation.name
    text = legend(annotation.text_format, labels, "") if annotation.text_format else ""
    return Event(start, end, title, text, annotation.icon_color)
