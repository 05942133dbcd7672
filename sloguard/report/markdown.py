"""Markdown summary, fit for a CI step summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from pathlib import Path

from sloguard.evaluate import CheckResult
from sloguard.files import write_text_atomic
from sloguard.report.format import STATUS_ICON, format_bound, format_interval, format_value, iso, status_text
from sloguard.window_coverage import coverage_warnings

FILENAME = "sloguard-summary.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CheckResult) -> str:
    slo = result.slo_set
    w = result.window
    lines = [
        f"## {STATUS_ICON[result.status.value]} sloguard: {slo.name} — {result.status.value.upper()}",
        "",
        f"Score **{result.score:.1f}** · window {iso(w.start)} → {iso(w.end)} ({w.seconds:.0f} s)",
        "",
        "| Objective | Group | Value | 95 % CI | Objective | Warning | Status |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in result.verdicts:
        obj = v.objective
        key = " 🔑" if obj.key else ""
        status = f"{STATUS_ICON[v.status.value]} {status_text(v)}"
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"{obj.name}{key}",
                    v.group or "—",
                    format_value(obj, v.value),
                    format_interval(obj, v.interval) or "—",
                    format_bound(obj, obj.objective),
                    format_bound(obj, obj.warning) or "—",
                    status,
                )
            )
            + " |"
        )
    lines.append("")
    # Data short of the window: the table's values count only part of it (check.md, "The window").
    lines.extend(f"> ⚠️ {_cell(warning.removeprefix('warning: '))}\n" for warning in coverage_warnings(result))
    return "\n".join(lines)


def write(result: CheckResult, directory: Path) -> Path:
    path = directory / FILENAME
    write_text_atomic(path, render(result))
    return path
