"""The self-contained HTML performance report (inline SVG charts, inline CSS) and its Markdown twin."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from sloguard.errors import UsageError
from sloguard.files import write_text_atomic
from sloguard.report.perfdata import load
from sloguard.report.perfdoc import Chart, Para, Report, Table
from sloguard.report.performance import build
from sloguard.report.rollout import load_rollout, rollout_section

HTML_FILE = "performance-report.html"
MARKDOWN_FILE = "performance-report.md"

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:24px auto;
padding:0 16px;color:#212529;line-height:1.45}
h1{font-size:24px;border-bottom:2px solid #dee2e6;padding-bottom:8px}
h2{font-size:19px;margin-top:32px;border-bottom:1px solid #e9ecef;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f8f9fa}
figure{margin:12px 0 24px}
figcaption{font-size:13px;color:#495057;margin-bottom:4px}
.nodata{color:#868e96}
nav a{margin-right:12px;font-size:13px}
"""


def _inline(text: str) -> str:
    """Markdown-ish inline markup the sections use: **bold** and `code`."""
    out = escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _para(text: str) -> str:
    lines = text.split("\n")
    if all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
    cls = ' class="nodata"' if text.startswith("**No data:**") else ""
    return f"<p{cls}>{_inline(text)}</p>"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def to_html(report: Report) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{escape(report.title)}</h1>",
             f"<p>Generated {escape(report.generated)} by <code>sloguard report</code>. Every number comes from the "
             "runs named in the title.</p>",
             "<nav>" + "".join(f'<a href="#{_slug(s.title)}">{escape(s.title)}</a>' for s in report.sections)
             + "</nav>"]
    for section in report.sections:
        parts.append(f'<section id="{_slug(section.title)}"><h2>{escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Para):
                parts.append(_para(block.text))
            elif isinstance(block, Table):
                head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
                body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Chart):
                parts.append(f'<figure class="chart" data-chart="{block.key}"><figcaption>{escape(block.title)}'
                             f"</figcaption>{block.svg}</figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, html_name: str | None = None) -> str:
    lines = [f"# {report.title}", "", f"Generated {report.generated} by `sloguard report`.", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Para):
                lines += [block.text, ""]
            elif isinstance(block, Table):
                lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            else:
                where = f" in [{html_name}]({html_name})" if html_name else " in the HTML report"
                lines += [f"*Chart: {block.title}{where}.*", ""]
    return "\n".join(lines)


def write_report(run_dirs: Sequence[Path], output_dir: Path, *, rollout: Path | None = None) -> Path:
    """Write performance-report.html and performance-report.md for the runs under run_dirs; returns the HTML path.

    `rollout`: a rollout's state directory, for a rollout section (its steps, decisions and evidence).
    """
    extra = [rollout_section(load_rollout(rollout))] if rollout is not None else []
    if run_dirs:
        report = build(load([Path(d) for d in run_dirs]), extra)
    elif rollout is not None:  # a rollout of weeks on production traffic has no load run to report on
        report = Report(f"SARK Rust rollout report ({rollout})", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                        extra)
    else:
        raise UsageError("nothing to report: give run directories, --rollout DIR, or both")
    output_dir.mkdir(parents=True, exist_ok=True)
    html_path = output_dir / HTML_FILE
    write_text_atomic(html_path, to_html(report))
    write_text_atomic(output_dir / MARKDOWN_FILE, to_markdown(report, HTML_FILE))
    return html_path
