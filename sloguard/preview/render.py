"""`sloguard dashboards preview` end to end: dashboards in, one HTML page and one summary per dashboard out.

For each dashboard: resolve its variables (--var overrides), run every panel's queries and its
annotations against Prometheus over the window, draw each panel, write `<name>.html`. The
summary says how many panels were drawn, which had no data and how many NaN values came
back, so a caller can insist that every panel has data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sloguard.durations import Window, iso
from sloguard.errors import UsageError
from sloguard.files import write_text_atomic
from sloguard.preview import panels as draw
from sloguard.preview.model import Dashboard, Panel
from sloguard.preview.page import Cell, render_page
from sloguard.preview.queries import (
    Event,
    PanelData,
    Query,
    QueryClient,
    intervals_for,
    resolve_variables,
    run_annotations,
    run_panel,
    scrape_interval,
)
from sloguard.preview.variables import TimeRange, Variable, format_interval

DEFAULT_SCRAPE_INTERVAL = 15.0  # Grafana's default for a Prometheus data source without a scrape interval
# Panels that show no query results: never "no data".
_NO_QUERIES = ("row", "text")


@dataclass(frozen=True)
class PanelSummary:
    title: str
    type: str
    has_data: bool
    nan_values: int
    errors: tuple[str, ...] = ()

    @property
    def needs_data(self) -> bool:
        return self.type not in _NO_QUERIES


@dataclass(frozen=True)
class DashboardSummary:
    title: str
    uid: str
    path: Path
    panels: tuple[PanelSummary, ...]
    annotation_events: int = 0
    variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def drawn(self) -> int:
        return sum(1 for p in self.panels if p.type != "row")

    @property
    def no_data(self) -> list[str]:
        return [p.title for p in self.panels if p.needs_data and not p.has_data]

    @property
    def nan_values(self) -> int:
        return sum(p.nan_values for p in self.panels)

    @property
    def with_data(self) -> int:
        return sum(1 for p in self.panels if p.needs_data and p.has_data)

    def line(self) -> str:
        """One line for the CLI: where it went and its panel counts."""
        missing = f"; no data: {', '.join(self.no_data)}" if self.no_data else ""
        return (f"wrote {self.path} ({self.drawn} panels, {self.with_data} with data, {len(self.no_data)} "
                f"without, {self.nan_values} NaN values{missing})")


@dataclass(frozen=True)
class PreviewOptions:
    window: Window
    output_dir: Path
    prometheus_url: str = ""  # shown in the header (redacted by the client)
    variables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scrape_interval: float | None = None  # None: read from Prometheus, else Grafana's 15 s


def check_overrides(dashboards: Sequence[Dashboard], overrides: Mapping[str, tuple[str, ...]]) -> None:
    """A --var naming a variable no dashboard has is a usage error (a typo would silently change nothing)."""
    known = {str(v["name"]) for d in dashboards for v in d.variables}
    unknown = sorted(set(overrides) - known)
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise UsageError(f"--var {unknown[0]}: no dashboard has that variable (variables: {have})")


def write_previews(dashboards: Sequence[Dashboard], client: QueryClient,
                   options: PreviewOptions) -> list[DashboardSummary]:
    """Render every dashboard to output_dir/<name>.html; the summaries in the same order."""
    if not dashboards:
        raise UsageError("no dashboards to preview")
    check_overrides(dashboards, options.variables)
    interval = options.scrape_interval or scrape_interval(client, options.window.end) or DEFAULT_SCRAPE_INTERVAL
    time = TimeRange(options.window.start, options.window.end, interval)
    try:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {options.output_dir}: {exc.strerror or exc}") from None
    out = []
    for dashboard in dashboards:
        html, summary = preview(dashboard, client, time, options)
        path = options.output_dir / f"{Path(dashboard.source).stem}.html"
        write_text_atomic(path, html)
        out.append(DashboardSummary(summary.title, summary.uid, path, summary.panels, summary.annotation_events,
                                    summary.variables))  # fmt: skip
    return out


def preview(dashboard: Dashboard, client: QueryClient, time: TimeRange,
            options: PreviewOptions) -> tuple[str, DashboardSummary]:
    """One dashboard's page and summary (nothing written)."""
    variables = resolve_variables(dashboard, client, time, options.variables)
    used: set[str] = set()
    events, annotation_queries = run_annotations(dashboard.annotations, client, variables, time, used)
    cells = []
    summaries = []
    for panel in dashboard.panels:
        data = run_panel(panel, client, variables, time, used)
        cells.append(_cell(panel, data, time, events))
        summaries.append(PanelSummary(panel.title, panel.type, data.has_data, data.nan_values, tuple(data.errors)))
    summary = DashboardSummary(dashboard.title, dashboard.uid, Path(), tuple(summaries), len(events),
                               {name: v.shown() for name, v in variables.items()})  # fmt: skip
    html = render_page(title=dashboard.title, facts=_facts(dashboard, time, options, annotation_queries, events),
                       chips=_chips(variables, used, time, dashboard), summary=_summary_html(summary),
                       cells=cells)  # fmt: skip
    return html, summary


def _cell(panel: Panel, data: PanelData, time: TimeRange, events: Sequence[Event]) -> Cell:
    kind = panel.type
    if kind == "row":
        body = ""
    elif kind == "text":
        body = draw.text(panel)
    elif kind in ("timeseries", "graph"):
        body = draw.timeseries(data, time.start, time.end, events)
    elif kind == "stat":
        body = draw.stat(data)
    elif kind in ("gauge", "bargauge"):
        body = draw.gauge(data)
    elif kind == "table":
        body = draw.table(data)
    else:
        body = f'<div class="nodata"><span>Panel type {kind!r} is not drawn by the preview</span></div>'
    g = panel.grid
    title = panel.title + (" (in a collapsed row)" if panel.collapsed and kind != "row" else "")
    return Cell(g.x, g.y, g.w, g.h, title, kind, body, draw.details(data), draw.query_text(data),
                panel.description)


def _facts(dashboard: Dashboard, time: TimeRange, options: PreviewOptions, annotations: Sequence[Query],
           events: Sequence[Event]) -> list[tuple[str, str]]:
    facts = [
        ("Window", f"{iso(time.start)} → {iso(time.end)} ({_length(time.seconds)}, UTC)"),
        ("Prometheus", options.prometheus_url or "-"),
        ("Scrape interval", f"{format_interval(time.scrape_interval)} (sets $__rate_interval and the minimum step)"),
        ("Dashboard", f"{dashboard.uid} ({Path(dashboard.source).name})"),
    ]
    for q in annotations:
        what = f"error: {q.error}" if q.error else f"{q.series} series"
        facts.append((f"Annotation: {q.ref_id}", f"{q.expr} ({what})"))
    if annotations:
        facts.append(("Annotation events", str(len(events))))
    return facts


def _length(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _chips(variables: Mapping[str, Variable], used: set[str], time: TimeRange, dashboard: Dashboard) -> list[str]:
    chips = [f"${name} = {v.shown()}" + ("" if name in used else " (unused)") for name, v in variables.items()]
    probe = next((p for p in dashboard.panels if p.type not in _NO_QUERIES), None)
    if probe is not None:
        intervals = intervals_for(probe, time)
        for name, value in (("__interval", intervals.interval), ("__rate_interval", intervals.rate_interval)):
            if name in used:
                chips.append(f"${name} = {format_interval(value)}")
    if "__range" in used or "__range_s" in used:
        chips.append(f"$__range = {math.floor(time.seconds)}s")
    return chips


def _summary_html(summary: DashboardSummary) -> str:
    parts = [f"{summary.drawn} panels drawn", f"{summary.with_data} with data"]
    if summary.no_data:
        parts.append(f'<span class="bad">{len(summary.no_data)} without data</span>')
    if summary.nan_values:
        parts.append(f'<span class="bad">{summary.nan_values} NaN values</span>')
    parts.append(f"{summary.annotation_events} annotation events")
    return " · ".join(parts)
