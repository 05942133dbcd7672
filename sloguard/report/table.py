"""The terminal table `sloguard check` prints."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sloguard.evaluate import CheckResult
from sloguard.report.format import format_bound, format_value, iso

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "no_data": "magenta"}


# Wide enough for every column in CI logs, where rich would otherwise assume 80 columns.
LOG_WIDTH = 160


def render(result: CheckResult, console: Console) -> None:
    if not console.is_terminal and console.width < LOG_WIDTH:
        console.width = LOG_WIDTH
    w = result.window
    table = Table(
        title=f"sloguard check: {result.slo_set.name}  {iso(w.start)} → {iso(w.end)} ({w.seconds:.0f} s)",
        title_justify="left",
    )
    for column in ("objective", "group", "value", "objective", "warning", "status"):
        table.add_column(column)
    for v in result.verdicts:
        obj = v.objective
        status = v.status.value + (f" ({v.reason})" if v.status.value == "no_data" else "")
        table.add_row(
            obj.name + (" (key)" if obj.key else ""),
            v.group or "-",
            format_value(obj, v.value),
            format_bound(obj, obj.objective),
            format_bound(obj, obj.warning),
            f"[{_STYLE[v.status.value]}]{status}[/]",
        )
    console.print(table)
    style = _STYLE[result.status.value]
    console.print(f"verdict: [{style}]{result.status.value.upper()}[/]  score {result.score:.1f}")
