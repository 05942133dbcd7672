"""The terminal table, Markdown summary and JSON file of `sloguard compare` (kind Comparison)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from sloguard.compare import Comparison, Gate, InconclusivePolicy, MetricComparison, StatRow, Verdict
from sloguard.files import write_text_atomic
from sloguard.report.console import make_table
from sloguard.runs import write_json

_STYLE = {
    Verdict.FASTER: "green", Verdict.SLOWER: "bold red", Verdict.NO_DIFFERENCE: "cyan",
    Verdict.INCONCLUSIVE: "magenta",
}  # fmt: skip
_GATE_STYLE = {Gate.PASS: "green", Gate.FAIL: "bold red", Gate.INCONCLUSIVE: "bold magenta"}
_COLUMNS = ("metric", "n (c/e)", "statistic", "control", "experiment", "ratio", "CI", "verdict", "gate")


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.3f} ms"
    return f"{value:.4g}"


def _cells(m: MetricComparison, row: StatRow) -> list[str]:
    """One table row as plain text, in _COLUMNS order."""
    unit = "s" if "latency" in m.metric else ""
    n = f"{m.n_control}/{m.n_experiment}" if m.n_control is not None else "-"
    ci = f"[{row.ci_low:.3f}, {row.ci_high:.3f}]" if row.ci_low is not None and row.ci_high is not None else "-"
    gate = "FAIL" if row.gate_fails else ("INCONCLUSIVE" if row.verdict is Verdict.INCONCLUSIVE else "ok")
    return [m.metric, n, row.statistic, _num(row.control, unit), _num(row.experiment, unit),
            f"{row.ratio:.3f}" if row.ratio is not None else "-", ci, row.verdict.value, gate]


_COUNTED = {InconclusivePolicy.FAIL: "counted as a failure", InconclusivePolicy.WARN: "a warning, not a failure",
            InconclusivePolicy.PASS: "counted as a pass"}


def gate_line(comparison: Comparison) -> str:
    """"gate: PASS", "gate: FAIL" or "gate: INCONCLUSIVE" and what the policy makes of it (plain text)."""
    gate = comparison.gate
    line = f"gate: {gate.value.upper()}"
    if gate is Gate.INCONCLUSIVE:
        n = len(comparison.inconclusive_rows())
        line += (f" ({n} statistic{'s' if n != 1 else ''} could not be judged: "
                 f"{_COUNTED[comparison.settings.inconclusive]})")
    return line


def render(comparison: Comparison, console: Console) -> None:
    """The table, tests, reasons, notes and the gate on `console` (report.console.make_console)."""
    table = make_table(f"sloguard compare: control {escape(comparison.control)}  vs  "
                       f"experiment {escape(comparison.experiment)}", _COLUMNS, whole=("verdict", "gate"))
    for m in comparison.metrics:
        for row in m.rows:
            cells = [escape(c) for c in _cells(m, row)]
            cells[7] = f"[{_STYLE[row.verdict]}]{cells[7]}[/]"
            cells[8] = "[bold red]FAIL[/]" if row.gate_fails else cells[8]
            table.add_row(*cells)
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
    console.print(f"[{_GATE_STYLE[comparison.gate]}]{escape(gate_line(comparison))}[/]  "
                  f"(max regression {s.max_regression:.0%}, alpha {s.alpha:g}, "
                  f"{100 * (1 - s.alpha):g}% intervals, min {s.min_samples} samples per side)")
    methods = sorted({row.test for m in comparison.metrics for row in m.rows})
    console.print(escape(f"method: {'; '.join(methods)}"), style="dim")


def markdown(comparison: Comparison) -> str:
    """The comparison for a CI step summary ($GITHUB_STEP_SUMMARY)."""
    icon = {Gate.PASS: "✅", Gate.FAIL: "❌", Gate.INCONCLUSIVE: "❔"}[comparison.gate]
    lines = [f"## {icon} sloguard compare — {comparison.gate.value.upper()}", "",
             f"Control `{comparison.control}` vs experiment `{comparison.experiment}`. {gate_line(comparison)}.", "",
             "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_md_cell(c) for c in _cells(m, row)) + " |"
              for m in comparison.metrics for row in m.rows]
    reasons = [f"- {m.metric} {row.statistic}: {row.reason}" for m in comparison.metrics for row in m.rows
               if row.reason]
    notes = [f"- note: {note}" for note in comparison.notes]
    if reasons or notes:
        lines += ["", *reasons, *notes]
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tests_line(m: MetricComparison) -> str:
    hl = f"{m.hl_shift * 1000:+.3f} ms" if m.hl_shift is not None and "latency" in m.metric else "-"
    rel = f" ({m.hl_relative:+.1%})" if m.hl_relative is not None else ""
    return f"{m.metric}: Mann-Whitney U={m.mann_whitney_u:.6g} p={m.p_value:.3g}; Hodges-Lehmann shift {hl}{rel}"


def write(comparison: Comparison, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, comparison.to_document())
    return path


def write_markdown(comparison: Comparison, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, markdown(comparison))
    return path
