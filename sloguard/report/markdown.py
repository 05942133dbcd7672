"""Markdown summary, fit for a CI step summary ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from pathlib import Path

from sloguard.evaluate import CheckResult
from sloguard.files import write_text_atomic
from sloguard.report.format import STATUS_ICON, format_bound, format_value, iso

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
        "| Objective | Group | Value | Objective | Warning | Status |",
        "|---|---|---|---|---|---|",
    ]
    for v in result.verdicts:
        obj = v.objective
        key = " 🔑" if obj.key else ""
        status = f"{STATUS_ICON[v.status.value]} {v.status.value}"
        if v.reason and v.status.value == "no_data":
            status += f" ({v.reason})"
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"{obj.name}{key}",
                    v.group or "—",
                    format_value(obj, v.value),
                    format_bound(obj, obj.objective),
                    format_bound(obj, obj.warning) or "—",
                    status,
                )
            )
            + " |"
        )
    lines.append("")
    return "\n".join(lines)


def write(result: CheckResult, directory: Path) -> Path:
    path = directory / FILENAME
    write_text_atomic(path, render(result))
    return path
