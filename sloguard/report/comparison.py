"""The terminal table and JSON file of `sloguard compare` (kind Comparison)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sloguard.compare import Comparison, MetricComparison, Verdict
from sloguard.runs import write_json

_STYLE = {
    Verdict.FASTER: "green", Verdict.SLOWER: "bold red", Verdict.NO_DIFFERENCE: "cyan",
    Verdict.INCONCLUSIVE: "magenta",
}  # fmt: skip


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.3f} ms"
    return f"{value:.4g}"


def render(comparison: Comparison, console: Console) -> None:
    table = Table(title=f"sloguard compare: control {escape(comparison.control)}  vs  "
                        f"experiment {escape(comparison.experiment)}",
                  title_justify="left")
    for column in ("metric", "n (c/e)", "statistic", "control", "experiment", "ratio", "CI", "verdict", "gate"):
        table.add_column(column)
    for m in comparison.metrics:
        unit = "s" if "latency" in m.metric else ""
        n = f"{m.n_control}/{m.n_experiment}" if m.n_control is not None else "-"
        for row in m.rows:
            ci = f"[{row.ci_low:.3f}, {row.ci_high:.3f}]" if row.ci_low is not None and row.ci_high is not None else "-"
            table.add_row(escape(m.metric), n, row.statistic, _num(row.control, unit), _num(row.experiment, unit),
                          f"{row.ratio:.3f}" if row.ratio is not None else "-", ci,
                          f"[{_STYLE[row.verdict]}]{row.verdict.value}[/]",
                          "[bold red]FAIL[/]" if row.gate_fails else "ok")
    console.print(table)
    for m in comparison.metrics:
        if m.p_value is not None:
            console.print(escape(_tests_line(m)))
        for row in m.rows:
            if row.reason:
                console.print(escape(f"  {m.metric} {row.statistic}: {row.reason}"), style="dim")
    for note in comparison.notes:
        console.print(escape(f"note: {note}"), style="yellow")
    s = comparison.settings
    verdict = "[bold red]FAIL[/]" if comparison.gate_fails else "[green]PASS[/]"
    console.print(f"gate: {verdict}  (max regression {s.max_regression:.0%}, alpha {s.alpha:g}, "
                  f"{100 * (1 - s.alpha):g}% intervals, min {s.min_samples} samples per side)")
    methods = sorted({row.test for m in comparison.metrics for row in m.rows})
    console.print(escape(f"method: {'; '.join(methods)}"), style="dim")


def _tests_line(m: MetricComparison) -> str:
    hl = f"{m.hl_shift * 1000:+.3f} ms" if m.hl_shift is not None and "latency" in m.metric else "-"
    rel = f" ({m.hl_relative:+.1%})" if m.hl_relative is not None else ""
    return f"{m.metric}: Mann-Whitney U={m.mann_whitney_u:.6g} p={m.p_value:.3g}; Hodges-Lehmann shift {hl}{rel}"


def write(comparison: Comparison, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, comparison.to_document())
    return path
