"""Small hand-written SVG charts (line, bar) for the self-contained HTML report: no plotting dependency."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from sloguard.numbers import nice_ticks
from sloguard.report.perfdata import Series

WIDTH, HEIGHT = 720, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 64, 150, 16, 44
COLORS = {"rust": "#d9480f", "python": "#1c7ed6", "total": "#495057"}
PALETTE = ("#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131", "#5c940d")


def color(name: str, index: int) -> str:
    for key, value in COLORS.items():
        if name.split()[0] == key:
            return value
    return PALETTE[index % len(PALETTE)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10**e
            if lo <= v <= hi:
                out.append(v)
    return out or [lo, hi]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def no_data(title: str, why: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 80" width="{WIDTH}" height="80" '
            f'role="img" aria-label="{escape(title)}: no data"><text x="{WIDTH / 2}" y="44" text-anchor="middle" '
            f'font-size="14" fill="#868e96">no data: {escape(why)}</text></svg>')


def line_chart(series: Sequence[Series], *, x_label: str, y_label: str, title: str, log_x: bool = False,
               log_y: bool = False, y_min: float | None = None, y_max: float | None = None,
               markers: bool = False) -> str:
    """Lines (and optional point markers) with axes, ticks and a legend on the right."""
    pts = [(x, y) for s in series for x, y in zip(s.x, s.y, strict=True)
           if math.isfinite(x) and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
    if not pts:
        return no_data(title, "no points")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0 = min(ys) if y_min is None else y_min
    y1 = max(ys) if y_max is None else y_max
    if not log_y and y_min is None:
        y0 = min(0.0, y0)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + (abs(y0) or 1)
    pw, ph = WIDTH - MARGIN_L - MARGIN_R, HEIGHT - MARGIN_T - MARGIN_B

    def sx(x: float) -> float:
        f = (math.log10(x) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) if log_x else (x - x0) / (x1 - x0)
        return MARGIN_L + f * pw

    def sy(y: float) -> float:
        f = (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) if log_y else (y - y0) / (y1 - y0)
        return MARGIN_T + ph - f * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{pw}" height="{ph}" fill="#fff" stroke="#ced4da"/>']
    for t in _log_ticks(y0, y1) if log_y else nice_ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#f1f3f5"/>')
        parts.append(f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">{_fmt(t)}</text>')
    for t in _log_ticks(x0, x1) if log_x else nice_ticks(x0, x1, 6):
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T}" y2="{MARGIN_T + ph}" stroke="#f1f3f5"/>')
        parts.append(f'<text x="{x:.1f}" y="{MARGIN_T + ph + 16}" text-anchor="middle" fill="#495057">'
                     f'{_fmt(t)}</text>')
    parts.append(f'<text x="{MARGIN_L + pw / 2}" y="{HEIGHT - 6}" text-anchor="middle" fill="#212529">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {MARGIN_T + ph / 2}) rotate(-90)" text-anchor="middle" '
                 f'fill="#212529">{escape(y_label)}</text>')
    for i, s in enumerate(series):
        c = color(s.name, i)
        good = [(sx(x), sy(y)) for x, y in zip(s.x, s.y, strict=True)
                if math.isfinite(x) and math.isfinite(y) and (not log_x or x > 0) and (not log_y or y > 0)]
        if not good:
            continue
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        if len(good) > 1 and not markers:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in good)
            parts.append(f'<polyline class="series" data-series="{escape(s.name)}" points="{path}" fill="none" '
                         f'stroke="{c}" stroke-width="2"{dash}/>')
        else:
            parts += [f'<circle class="series" data-series="{escape(s.name)}" cx="{x:.1f}" cy="{y:.1f}" r="2.5" '
                      f'fill="{c}"/>' for x, y in good]
        ly = MARGIN_T + 14 + 18 * i
        lx = MARGIN_L + pw + 12
        parts.append(f'<line x1="{lx}" x2="{lx + 22}" y1="{ly - 4}" y2="{ly - 4}" stroke="{c}" '
                     f'stroke-width="3"{dash}/>')
        parts.append(f'<text x="{lx + 28}" y="{ly}" fill="#212529">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, x_label: str,
              limit: float | None = None) -> str:
    """Horizontal bars (e.g. error budget consumed, %), with an optional limit line."""
    if not labels:
        return no_data(title, "no bars")
    row = 26
    height = MARGIN_T + row * len(labels) + 40
    left = 260
    pw = WIDTH - left - 40
    top = max([*values, limit or 0, 1e-12])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
             f'height="{height}" role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_T + i * row
        w = max(0.0, value) / top * pw
        c = "#e03131" if limit is not None and value > limit else "#2f9e44"
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#212529">{escape(label)}</text>')
        parts.append(f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{c}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 15}" fill="#212529">{value:.1f}</text>')
    if limit is not None:
        x = left + limit / top * pw
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MARGIN_T}" y2="{height - 36}" stroke="#212529" '
                     f'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
