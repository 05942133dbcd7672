"""One panel's HTML: time series (chart and legend), stat, gauge, table, text, row, and "No data".

Every panel ends with its expanded queries, in the panel's title attribute (shown on hover)
and in a collapsed <details>; a panel without data says "No data" (and why, when a query
failed) instead of staying blank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from sloguard.preview.charts import timeseries_svg
from sloguard.preview.colors import css, series_color, threshold_color
from sloguard.preview.model import FieldConfig, Panel, field_for
from sloguard.preview.queries import CALC_NAMES, Event, PanelData, Series, reduce
from sloguard.preview.units import format_value

# The page's grid: Grafana's 24 columns at a fixed page width, 30 px rows, 8 px gaps.
PAGE_WIDTH = 1240
ROW_HEIGHT = 30
GAP = 8
COLUMN_WIDTH = (PAGE_WIDTH - 23 * GAP) / 24
HEADER_HEIGHT = 28
DETAILS_HEIGHT = 22
LEGEND_ROW = 18
# Without a tooltip to hover, the legend stands in for it: these calcs when the panel names none.
DEFAULT_LEGEND_CALCS = ("lastNotNull", "mean")


def panel_size(panel: Panel) -> tuple[int, int]:
    """The panel's pixel size in the page's grid."""
    return (round(panel.grid.w * COLUMN_WIDTH + (panel.grid.w - 1) * GAP),
            panel.grid.h * ROW_HEIGHT + (panel.grid.h - 1) * GAP)  # fmt: skip


def query_text(data: PanelData) -> str:
    """The panel's queries as sent, one per line (hover text and <details>)."""
    lines = []
    for q in data.queries:
        how = f"range, step {q.step:g}s" if q.kind == "range" and q.step else q.kind
        lines.append(f"{q.ref_id} ({how}): {q.expr}" + (f"  -- error: {q.error}" if q.error else ""))
    return "\n".join(lines)


def details(data: PanelData) -> str:
    if not data.queries:
        return ""
    rows = "".join(f'<pre class="query{" failed" if q.error else ""}">{escape(line)}</pre>'
                   for q, line in zip(data.queries, query_text(data).split("\n"), strict=True))  # fmt: skip
    return f'<details class="queries"><summary>Queries ({len(data.queries)})</summary>{rows}</details>'


def _no_data(data: PanelData) -> str:
    why = "".join(f'<div class="error">{escape(e)}</div>' for e in data.errors)
    return f'<div class="nodata"><span>No data</span>{why}</div>'


def legend_calcs(panel: Panel) -> tuple[str, ...]:
    calcs = panel.option("legend", "calcs", default=None)
    if isinstance(calcs, list) and calcs:
        return tuple(str(c) for c in calcs)
    return DEFAULT_LEGEND_CALCS


def legend_shown(panel: Panel) -> bool:
    legend = panel.option("legend", default={})
    if not isinstance(legend, dict):
        return True
    return legend.get("showLegend", True) is not False and legend.get("displayMode") != "hidden"


def _legend_items(series: Sequence[Series], calcs: Sequence[str]) -> list[tuple[str, str, str]]:
    items = []
    for index, s in enumerate(series):
        last = reduce(s.points, "lastNotNull")
        color = series_color(index, s.config, last)
        values = []
        for calc in calcs:
            value = reduce(s.points, calc)
            shown = "-" if value is None else format_value(value, s.config.unit, s.config.decimals)
            values.append(f"{CALC_NAMES.get(calc, calc)}: {shown}")
        items.append((color, s.name, "  ".join(values)))
    return items


def _legend_height(items: Sequence[tuple[str, str, str]], width: int) -> int:
    rows, used = 1, 0
    for _, name, values in items:
        item = 7 * (len(name) + len(values)) + 40
        if used and used + item > width:
            rows, used = rows + 1, 0
        used += item
    return rows * LEGEND_ROW + 6


def timeseries(data: PanelData, start: float, end: float, events: Sequence[Event]) -> str:
    width, height = panel_size(data.panel)
    if not data.has_data:
        return _no_data(data)
    items = _legend_items(data.series, legend_calcs(data.panel)) if legend_shown(data.panel) else []
    legend_h = min(_legend_height(items, width), height // 3) if items else 0
    chart_h = max(60, height - HEADER_HEIGHT - DETAILS_HEIGHT - legend_h - 8)
    svg = timeseries_svg(data.series, start=start, end=end, width=width - 12, height=chart_h,
                         config=data.panel.defaults, events=events, title=data.panel.title,
                         hover=query_text(data), key=str(data.panel.id or id(data)))  # fmt: skip
    legend = ""
    if items:
        legend = (f'<ul class="legend" style="max-height:{legend_h}px">'
                  + "".join(f'<li><i style="background:{color}"></i>{escape(name)}'
                            f'{f" <span>{escape(values)}</span>" if values else ""}</li>'
                            for color, name, values in items) + "</ul>")  # fmt: skip
    return svg + legend


def _sparkline(points: Sequence[tuple[float, float]], color: str) -> str:
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    t0, t1 = finite[0][0], finite[-1][0]
    lo, hi = min(v for _, v in finite), max(v for _, v in finite)
    span, rise = (t1 - t0) or 1, (hi - lo) or 1
    d = " L".join(f"{(t - t0) / span * 100:.1f},{30 - (v - lo) / rise * 28:.1f}" for t, v in finite)
    return (f'<svg class="spark" viewBox="0 0 100 31" preserveAspectRatio="none"><path d="M{d}" fill="none" '
            f'stroke="{color}" stroke-width="1.5" vector-effect="non-scaling-stroke"/></svg>')


def _values(data: PanelData) -> list[tuple[Series, float | None]]:
    calcs = data.panel.option("reduceOptions", "calcs", default=["lastNotNull"])
    calc = str(calcs[0]) if isinstance(calcs, list) and calcs else "lastNotNull"
    return [(s, reduce(s.points, calc)) for s in data.series]


def stat(data: PanelData) -> str:
    values = _values(data)
    if not any(v is not None for _, v in values):
        return _no_data(data)
    color_mode = str(data.panel.option("colorMode", default="value"))
    graph = str(data.panel.option("graphMode", default="area")) != "none"
    cells = []
    for s, value in values:
        color = threshold_color(value, s.config) if s.config.color_mode in (None, "thresholds") else \
            series_color(0, s.config, value)
        shown = "No data" if value is None else format_value(value, s.config.unit, s.config.decimals)
        style = f"background:{color};color:#fff" if color_mode == "background" else f"color:{color}"
        name = f'<div class="name">{escape(s.name)}</div>' if len(values) > 1 else ""
        spark = _sparkline(s.points, color if color_mode != "background" else "#ffffff") if graph else ""
        cells.append(f'<div class="stat-cell" style="{style}" title="{escape(s.name)}">{name}'
                     f'<div class="value">{escape(shown)}</div>{spark}</div>')
    return f'<div class="stat" title="{escape(query_text(data))}">{"".join(cells)}</div>'


def _arc(cx: float, cy: float, r: float, a0: float, a1: float) -> str:
    """An SVG arc path from angle a0 to a1 (degrees, 0 = up, clockwise)."""
    def point(a: float) -> tuple[float, float]:
        rad = math.radians(a)
        return cx + r * math.sin(rad), cy - r * math.cos(rad)

    (x0, y0), (x1, y1) = point(a0), point(a1)
    large = 1 if a1 - a0 > 180 else 0
    return f"M{x0:.2f},{y0:.2f} A{r},{r} 0 {large} 1 {x1:.2f},{y1:.2f}"


def gauge(data: PanelData) -> str:
    values = _values(data)
    if not any(v is not None for _, v in values):
        return _no_data(data)
    cells = []
    for s, value in values:
        config = s.config
        lo = config.min if config.min is not None else 0.0
        hi = config.max if config.max is not None else (1.0 if config.unit == "percentunit" else 100.0)
        if value is not None and config.max is None and value > hi:
            hi = value
        fraction = 0.0 if value is None or hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
        color = threshold_color(value, config)
        shown = "No data" if value is None else format_value(value, config.unit, config.decimals)
        parts = [f'<svg class="gauge" viewBox="0 0 200 150" role="img" aria-label="{escape(s.name)}">',
                 f'<path d="{_arc(100, 100, 72, -120, 120)}" stroke="#e9ecef" stroke-width="16" fill="none"/>']
        if fraction > 0:
            parts.append(f'<path d="{_arc(100, 100, 72, -120, -120 + 240 * fraction)}" stroke="{color}" '
                         f'stroke-width="16" fill="none"/>')
        if data.panel.option("showThresholdMarkers", default=True) is not False:
            parts += _threshold_ring(config, lo, hi)
        parts.append(f'<text x="100" y="110" text-anchor="middle" class="gauge-value" fill="{color}">'
                     f"{escape(shown)}</text>")
        if len(values) > 1:
            parts.append(f'<text x="100" y="142" text-anchor="middle" class="gauge-name">{escape(s.name)}</text>')
        parts.append("</svg>")
        cells.append("".join(parts))
    return f'<div class="gauges" title="{escape(query_text(data))}">{"".join(cells)}</div>'


def _threshold_ring(config: FieldConfig, lo: float, hi: float) -> list[str]:
    steps = list(config.thresholds)
    if not steps or hi <= lo:
        return []
    out = []
    for i, step in enumerate(steps):
        a = lo if step.value is None else max(lo, min(hi, step.value))
        b = hi if i + 1 >= len(steps) or steps[i + 1].value is None else max(lo, min(hi, steps[i + 1].value or hi))
        if b <= a:
            continue
        a0 = -120 + 240 * (a - lo) / (hi - lo)
        a1 = -120 + 240 * (b - lo) / (hi - lo)
        out.append(f'<path d="{_arc(100, 100, 86, a0, a1)}" stroke="{css(step.color)}" stroke-width="4" '
                   f'fill="none"/>')
    return out


def _columns(data: PanelData) -> tuple[list[tuple[str, str]], list[dict[str, object]]]:
    """Grafana's table of instant results: (header, key) columns Time, the labels, Value (Value #A, ...), and rows.

    An `organize` transformation hides (excludeByName), orders (indexByName) and renames (renameByName).
    """
    refs = {s.ref_id for s in data.series}
    labels = sorted({k for s in data.series for k in s.labels if k != "__name__"})
    value_names = {r: ("Value" if len(refs) == 1 else f"Value #{r}") for r in refs}
    keys = ["Time", *labels, *sorted(set(value_names.values()))]
    rows: list[dict[str, object]] = []
    for s in data.series:
        at, value = s.points[-1] if s.points else (math.nan, math.nan)
        row: dict[str, object] = {"Time": at, **{k: s.labels.get(k, "") for k in labels}}
        row[value_names[s.ref_id]] = value
        rows.append(row)
    renames: dict[str, object] = {}
    for transform in data.panel.transformations:
        options = transform.get("options")
        if transform.get("id") != "organize" or not isinstance(options, dict):
            continue
        excluded = {k for k, v in (options.get("excludeByName") or {}).items() if v}
        order = options.get("indexByName") or {}
        keys = sorted((k for k in keys if k not in excluded), key=lambda k: (order.get(k, 1000), keys.index(k)))
        renames = dict(options.get("renameByName") or {})
    return [(str(renames.get(k) or k), k) for k in keys], rows


def table(data: PanelData) -> str:
    if not data.series:
        return _no_data(data)
    columns, rows = _columns(data)
    head = "".join(f"<th>{escape(header)}</th>" for header, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, key in columns:
            value = row.get(key, "")
            if key == "Time" and isinstance(value, float) and math.isfinite(value):
                cells.append(f"<td>{datetime.fromtimestamp(value, UTC).strftime('%Y-%m-%d %H:%M:%S')}</td>")
            elif isinstance(value, float):
                config = field_for(data.panel, key)
                shown = escape(format_value(value, config.unit, config.decimals))
                color = f' style="color:{threshold_color(value, config)}"' if config.color_mode == "thresholds" else ""
                cells.append(f'<td class="num"{color}>{shown}</td>')
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="table-wrap" title="{escape(query_text(data))}"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


_BULLET = re.compile(r"^\s*[-*]\s+")
_INLINE = ((re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"), (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
           (re.compile(r"(?<![*\w])\*([^*]+)\*(?!\*)"), r"<em>\1</em>"),
           (re.compile(r"\[([^\]]+)\]\(([^)]+)\)"), r"\1"))  # fmt: skip


def text(panel: Panel) -> str:
    """A text panel: markdown as headings and plain paragraphs (links keep their text only: no external URLs)."""
    content = str(panel.option("content", default=""))
    mode = str(panel.option("mode", default="markdown"))
    if mode != "markdown":
        content = re.sub(r"<[^>]+>", " ", content)
    blocks = []
    for block in re.split(r"\n\s*\n", content.strip()):
        lines = block.strip().splitlines()
        if not lines:
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", lines[0])
        if heading:
            blocks.append(f"<h3>{_inline(heading.group(2))}</h3>")
            lines = lines[1:]
        if lines and all(_BULLET.match(line) for line in lines):
            items = [_inline(_BULLET.sub("", line)) for line in lines]
            blocks.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
        elif lines:
            blocks.append(f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>")
    return f'<div class="text">{"".join(blocks)}</div>'


def _inline(raw: str) -> str:
    out = escape(raw, quote=False)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out
