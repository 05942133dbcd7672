"""The self-contained HTML page of one dashboard: header, Grafana's 24-column grid, inline CSS, no script.

Nothing on the page points outside it (no fonts, scripts, images or links to fetch), so it
opens from a CI artifact or a file:// URL with no network and no console error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from sloguard.preview.panels import GAP, PAGE_WIDTH, ROW_HEIGHT

CSS = f"""
*{{box-sizing:border-box}}
body{{margin:0;background:#f4f5f5;color:#24292e;font:13px/1.4 -apple-system,"Segoe UI",Roboto,
 "Helvetica Neue",Arial,sans-serif}}
.page{{width:{PAGE_WIDTH + 32}px;margin:0 auto;padding:16px}}
header.dash h1{{font-size:20px;margin:0 0 6px;font-weight:500}}
header.dash dl{{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 8px;font-size:12px}}
header.dash dt{{color:#6a737d}}
header.dash dd{{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}}
.chips span{{display:inline-block;background:#fff;border:1px solid #dcdee0;border-radius:3px;
 padding:1px 6px;margin:0 6px 2px 0}}
.summary{{margin:4px 0 12px;font-size:12px}}
.summary .bad{{color:#c4162a;font-weight:600}}
.grid{{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:{ROW_HEIGHT}px;gap:{GAP}px;
 width:{PAGE_WIDTH}px}}
.panel{{background:#fff;border:1px solid #dcdee0;border-radius:3px;display:flex;flex-direction:column;
 overflow:hidden;min-width:0}}
.panel>h2{{font-size:13px;font-weight:500;margin:0;padding:5px 8px;height:28px;white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis}}
.panel .body{{flex:1 1 auto;min-height:0;padding:0 6px;display:flex;flex-direction:column;overflow:hidden}}
.desc{{display:inline-block;width:14px;height:14px;border-radius:7px;background:#dcdee0;color:#24292e;
 font:bold 10px/14px serif;text-align:center;cursor:help;vertical-align:1px}}
.row-panel{{background:none;border:none;border-bottom:1px solid #c7d0d9}}
.row-panel>h2{{font-size:15px;padding:6px 0}}
svg.chart{{width:100%;height:auto;display:block}}
svg .grid{{stroke:#eceef0;stroke-width:1}}
svg .frame{{fill:none;stroke:#d8dadd}}
svg .tick{{font-size:10px;fill:#6a737d}}
ul.legend{{list-style:none;margin:2px 0 0;padding:0 0 0 6px;display:flex;flex-wrap:wrap;gap:0 14px;
 overflow:auto;font-size:12px}}
ul.legend li{{white-space:nowrap;line-height:18px}}
ul.legend i{{display:inline-block;width:14px;height:4px;border-radius:2px;margin:0 6px 3px 0;vertical-align:middle}}
ul.legend span{{color:#6a737d;margin-left:6px}}
.stat,.gauges{{flex:1;display:flex;flex-wrap:wrap;gap:6px;align-items:stretch;min-height:0}}
.stat-cell{{flex:1 1 120px;display:flex;flex-direction:column;justify-content:center;align-items:center;
 border-radius:3px;position:relative;min-height:0;overflow:hidden}}
.stat-cell .value{{font-size:30px;font-weight:500;z-index:1}}
.stat-cell .name{{font-size:12px;z-index:1}}
svg.spark{{position:absolute;left:0;right:0;bottom:0;width:100%;height:40%;opacity:.5}}
svg.gauge{{flex:1 1 140px;min-width:0;max-height:100%}}
.gauge-value{{font-size:24px;font-weight:500}}
.gauge-name{{font-size:12px;fill:#6a737d}}
.table-wrap{{overflow:auto;flex:1}}
table{{border-collapse:collapse;width:100%;font-size:12px}}
th{{text-align:left;font-weight:500;color:#1f60c4;border-bottom:1px solid #dcdee0;padding:3px 6px}}
td{{border-bottom:1px solid #f0f1f2;padding:3px 6px}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.text{{overflow:auto}}
.text h3{{font-size:14px;margin:4px 0}}
.text p{{margin:4px 0}}
.nodata{{flex:1;display:flex;flex-direction:column;align-items:center;justify-content:center;color:#6a737d;
 background:repeating-linear-gradient(135deg,#fafafa 0 8px,#f3f3f4 8px 16px);border-radius:3px;
 font-size:16px;text-align:center;overflow:hidden}}
.nodata .error{{font-size:11px;color:#c4162a;padding:2px 8px;word-break:break-word}}
details.queries{{font-size:11px;padding:0 8px 3px;color:#6a737d;flex:0 0 auto}}
details.queries summary{{cursor:pointer;height:18px}}
details.queries pre{{white-space:pre-wrap;word-break:break-all;margin:2px 0;color:#24292e;
 font:11px ui-monospace,Menlo,Consolas,monospace}}
details.queries pre.failed{{color:#c4162a}}
details[open].queries{{position:relative;z-index:2;background:#fff;max-height:60%;overflow:auto}}
"""


@dataclass(frozen=True)
class Cell:
    """One panel placed on the grid with its inner HTML."""

    x: int
    y: int
    w: int
    h: int
    title: str
    kind: str
    body: str
    details: str
    hover: str
    description: str = ""


def render_page(*, title: str, facts: Sequence[tuple[str, str]], chips: Sequence[str], summary: str,
                cells: Sequence[Cell]) -> str:
    """The whole page; `facts` are the header's name/value lines, `chips` the variables used."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    chip_html = "".join(f"<span>{escape(c)}</span>" for c in chips) or "<span>none</span>"
    panels = []
    for cell in cells:
        where = f"grid-column:{cell.x + 1} / span {cell.w};grid-row:{cell.y + 1} / span {cell.h}"
        classes = f"panel panel-{escape(cell.kind)}" + (" row-panel" if cell.kind == "row" else "")
        hover = f' title="{escape(cell.hover)}"' if cell.hover else ""
        heading = escape(cell.title) or "&nbsp;"
        desc = f' <span class="desc" title="{escape(cell.description)}">i</span>' if cell.description else ""
        body = f'<div class="body">{cell.body}</div>' if cell.kind != "row" else ""
        panels.append(f'<section class="{classes}" style="{where}"{hover}><h2>{heading}{desc}</h2>'
                      f"{body}{cell.details}</section>")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} — sloguard preview</title>'
        '<meta name="viewport" content="width=device-width">'
        '<link rel="icon" href="data:,">'  # no favicon request: a file:// page must not ask for anything
        f"<style>{CSS}</style></head><body><div class=\"page\">"
        f'<header class="dash"><h1>{escape(title)}</h1><dl>{rows}</dl>'
        f'<div class="chips">Variables: {chip_html}</div><div class="summary">{summary}</div></header>'
        f'<main class="grid">{"".join(panels)}</main></div></body></html>\n'
    )
