"""The time series panel as SVG: lines per series, axes in the panel's unit, thresholds and annotations.

Hand-written SVG (no plotting library), scaled by its viewBox to the panel's grid cell. A gap in
a series (a missing sample, a NaN) breaks its line as Grafana's default `spanNulls: false` does.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html import escape

from sloguard.numbers import nice_ticks
from sloguard.preview.colors import css, series_color
from sloguard.preview.model import FieldConfig
from sloguard.preview.queries import Event, Series
from sloguard.preview.units import format_value

MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 36, 12, 8, 22
# Time axis steps a tick may take (seconds), as Grafana's time axis picks them.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               172800, 604800)  # fmt: skip


def y_range(series: Sequence[Series], config: FieldConfig) -> tuple[float, float]:
    """The y axis: the panel's min/max where set, else the data's range to round ticks.

    Thresholds do not widen it: in Grafana a threshold line beyond the data is off the chart too.
    """
    values = [v for s in series for _, v in s.points if math.isfinite(v)]
    lo = min(values) if values else 0.0
    hi = max(values) if values else 1.0
    if config.min is not None:
        lo = config.min
    if config.max is not None:
        hi = config.max
    if hi == lo == 0 and config.max is None:
        hi = 1.0  # an all-zero series sits on the axis, as in Grafana, not in the middle of ±1
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (lo - pad if config.min is None else lo), (hi + pad if config.max is None else hi)
        if hi <= lo:
            hi = lo + 1.0
    if config.min is None or config.max is None:
        ticks = nice_ticks(lo, hi)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else (hi - lo)
        if config.min is None:
            lo = math.floor(lo / step + 1e-9) * step if step > 0 else lo
        if config.max is None:
            hi = math.ceil(hi / step - 1e-9) * step if step > 0 else hi
    return lo, hi


def tick_label(value: float, unit: str | None, decimals: int | None, *, keep_zeros: bool = False) -> str:
    """An axis label: the value in the panel's unit, trailing zeros dropped ("2.5 ms", not "2.50 ms")."""
    text = format_value(value, unit, decimals)
    if decimals is not None or keep_zeros:
        return text
    return re.sub(r"^(-?\d+)\.(\d*?)0+(?=\D|$)", lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""),
                  text)


def axis_labels(ticks: Sequence[float], config: FieldConfig) -> list[tuple[float, str]]:
    """Each tick with its label; more decimals when auto decimals would print two ticks alike (a narrow range)."""
    labels = [tick_label(t, config.unit, config.decimals) for t in ticks]
    decimals = 1
    while config.decimals is None and len(set(labels)) < len(labels) and decimals <= 9:
        labels = [tick_label(t, config.unit, decimals, keep_zeros=True) for t in ticks]
        decimals += 1
    return list(zip(ticks, labels, strict=True))


def time_ticks(start: float, end: float, count: int = 6) -> tuple[list[float], float]:
    span = max(end - start, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= count), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    return [t for t in _frange(first, end, step)], step


def _frange(first: float, end: float, step: float) -> list[float]:
    out = []
    value = first
    while value <= end + 1e-9:
        out.append(value)
        value += step
    return out


def time_label(at: float, step: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    if step >= 86400:
        return moment.strftime("%m/%d")
    return moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")


def _segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Runs of finite points; a missing sample (a gap over 1.5 × the usual spacing) or a NaN ends a run."""
    finite_times = [t for t, _ in points]
    gaps = sorted(b - a for a, b in itertools.pairwise(finite_times) if b > a)
    usual = gaps[len(gaps) // 2] if gaps else math.inf
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    previous = -math.inf
    for at, value in points:
        if not math.isfinite(value) or (current and at - previous > usual * 1.5):
            if current:
                runs.append(current)
            current = []
        if math.isfinite(value):
            current.append((at, value))
        previous = at
    if current:
        runs.append(current)
    return runs


def timeseries_svg(series: Sequence[Series], *, start: float, end: float, width: int, height: int,
                   config: FieldConfig, events: Sequence[Event] = (), title: str = "", hover: str = "",
                   key: str = "0") -> str:
    """The chart of a time series panel; `hover` (the panel's queries) is the SVG's <title>."""
    steps = [s.value for s in config.thresholds if s.value is not None]
    show_thresholds = config.thresholds_style != "off" and bool(steps)
    lo, hi = y_range(series, config)
    y_ticks = axis_labels([t for t in nice_ticks(lo, hi) if lo - 1e-12 <= t <= hi + 1e-12], config)
    # The plot starts right of the widest tick label (about 6 px a character at 10 px).
    left = max(MARGIN_L, 10 + 6 * max((len(label) for _, label in y_ticks), default=0))
    pw, ph = width - left - MARGIN_R, height - MARGIN_T - MARGIN_B
    span = max(end - start, 1e-9)

    def sx(at: float) -> float:
        return left + (at - start) / span * pw

    def sy(value: float) -> float:
        clipped = min(max(value, lo - (hi - lo)), hi + (hi - lo))  # keep wild values on the page
        return MARGIN_T + ph - (clipped - lo) / (hi - lo) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
           f'preserveAspectRatio="none" role="img" aria-label="{escape(title)}">']
    if hover:
        out.append(f"<title>{escape(hover)}</title>")
    out.append(f'<defs><clipPath id="clip-{key}"><rect x="{left}" y="{MARGIN_T}" width="{pw}" '
               f'height="{ph}"/></clipPath></defs>')
    # Axes: y ticks in the panel's unit, time ticks in UTC.
    for tick, label in y_ticks:
        y = sy(tick)
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 3.5:.1f}" text-anchor="end">{escape(label)}</text>')
    ticks, step = time_ticks(start, end, max(2, pw // 90))
    for at in ticks:
        x = sx(at)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T}" y2="{MARGIN_T + ph}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{MARGIN_T + ph + 14}" text-anchor="middle">'
                   f"{time_label(at, step)}</text>")
    clip = f' clip-path="url(#clip-{key})"'
    if show_thresholds:
        out += _thresholds(config, sy, lo, hi, left, pw, clip)
    for index, s in enumerate(series):
        last = next((v for _, v in reversed(s.points) if math.isfinite(v)), None)
        color = series_color(index, s.config, last)
        runs = _segments(s.points)
        d = " ".join("M" + " L".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v in run) for run in runs)
        dots = "".join(f'<circle cx="{sx(run[0][0]):.1f}" cy="{sy(run[0][1]):.1f}" r="1.8" fill="{color}"/>'
                       for run in runs if len(run) == 1)  # fmt: skip
        shown = format_value(last, s.config.unit, s.config.decimals) if last is not None else "no value"
        out.append(f'<g class="series" data-series="{escape(s.name)}"{clip}><title>{escape(s.name)}: last '
                   f"{escape(shown)}</title>")
        if d:
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5" '
                       f'stroke-linejoin="round"/>')
        out.append(dots + "</g>")
    for event in events:
        if event.end < start or event.at > end:
            continue
        # A run of samples over several steps is a region in Grafana: a band from its first to its last sample.
        x0, x1 = sx(max(event.at, start)), sx(min(event.end, end))
        color = css(event.color, "#F2495C")
        when = datetime.fromtimestamp(event.at, UTC).strftime("%H:%M:%S UTC")
        if event.end > event.at:
            when += datetime.fromtimestamp(event.end, UTC).strftime(" to %H:%M:%S UTC")
        tip = f"{event.title} ({when}){': ' + event.text if event.text else ''}"
        band = (f'<rect x="{x0:.1f}" y="{MARGIN_T}" width="{x1 - x0:.1f}" height="{ph}" fill="{color}" '
                f'fill-opacity="0.1"/><line x1="{x1:.1f}" x2="{x1:.1f}" y1="{MARGIN_T}" y2="{MARGIN_T + ph}" '
                f'stroke="{color}" stroke-dasharray="3 3"/>') if x1 > x0 else ""  # fmt: skip
        out.append(f'<g class="annotation"><title>{escape(tip)}</title>{band}<line x1="{x0:.1f}" x2="{x0:.1f}" '
                   f'y1="{MARGIN_T}" y2="{MARGIN_T + ph}" stroke="{color}" stroke-dasharray="3 3"/>'
                   f'<path d="M{x0 - 4:.1f},{MARGIN_T + ph + 6} L{x0 + 4:.1f},{MARGIN_T + ph + 6} '
                   f'L{x0:.1f},{MARGIN_T + ph} Z" fill="{color}"/></g>')
    out.append(f'<rect class="frame" x="{left}" y="{MARGIN_T}" width="{pw}" height="{ph}"/>')
    out.append("</svg>")
    return "".join(out)


def _thresholds(config: FieldConfig, sy: Callable[[float], float], lo: float, hi: float, left: float,
                pw: float, clip: str) -> list[str]:
    out = []
    mode = config.thresholds_style
    steps = list(config.thresholds)
    for i, step in enumerate(steps):
        color = css(step.color)
        top = steps[i + 1].value if i + 1 < len(steps) else None
        bottom = step.value
        if "area" in mode:
            y_top = sy(hi if top is None else min(top, hi))
            y_bottom = sy(lo if bottom is None else max(bottom, lo))
            if y_bottom > y_top:
                out.append(f'<rect class="threshold-area" x="{left}" y="{y_top:.1f}" width="{pw}" '
                           f'height="{y_bottom - y_top:.1f}" fill="{color}" fill-opacity="0.12"{clip}/>')
        if bottom is not None and ("line" in mode or "dashed" in mode) and lo <= bottom <= hi:
            y = sy(bottom)
            dash = ' stroke-dasharray="6 4"' if "dashed" in mode else ""
            out.append(f'<line class="threshold" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="{color}" stroke-width="1.5"{dash}/>')
    return out
