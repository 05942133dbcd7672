"""The terminal table `sloguard check` prints."""

from __future__ import annotations

from rich.console import Console

from sloguard.evaluate import CheckResult
from sloguard.report.console import make_table
from sloguard.report.format import format_bound, format_interval, format_value, iso, status_text

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "no_data": "magenta", "inconclusive": "magenta"}


def render(result: CheckResult, console: Console) -> None:
    """The table and the verdict line on `console` (report.console.make_console: nothing cut in a CI log)."""
    w = result.window
    table = make_table(
        f"sloguard check: {result.slo_set.name}  {iso(w.start)} → {iso(w.end)} ({w.seconds:.0f} s)",
        ("objective", "group", "value", "95 % CI", "objective", "warning", "status"),
    )
    for v in result.verdicts:
        obj = v.objective
        status = status_text(v)
        table.add_row(
            obj.name + (" (key)" if obj.key else ""),
            v.group or "-",
            format_value(obj, v.value),
            format_interval(obj, v.interval) or "-",
            format_bound(obj, obj.objective),
            format_bound(obj, obj.warning),
            f"[{_STYLE[v.status.value]}]{status}[/]",
        )
    console.print(table)
    style = _STYLE[result.status.value]
    console.print(f"verdict: [{style}]{result.status.value.upper()}[/]  score {result.score:.1f}")
