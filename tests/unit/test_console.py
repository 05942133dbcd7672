"""The console factory: COLUMNS when set, natural width in a log, folding (never an ellipsis) when narrow."""

from __future__ import annotations

import io
import sys

import pytest

from sloguard.report.console import HEADING_WIDTH, LOG_WIDTH, LogConsole, make_console, make_table

VERDICTS = ("inconclusive", "no difference", "no_data (the query returned no value)")


def wide_table():
    table = make_table("a table wider than 80 columns", ("metric", "statistic", "experiment", "verdict", "gate"),
                       whole=("verdict",))
    for verdict in VERDICTS:
        table.add_row("latency {implementation=python, cache=miss}", "p95", "123.456 ms", verdict, "INCONCLUSIVE")
    return table


def printed(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> tuple[str, int]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    console = make_console()
    console.print(wide_table())
    return out.getvalue(), console.width


def test_without_a_tty_or_columns_a_table_takes_its_natural_width(monkeypatch: pytest.MonkeyPatch) -> None:
    text, width = printed(monkeypatch, None)
    assert width == LOG_WIDTH
    assert "…" not in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == len(VERDICTS)  # one line a row: nothing wrapped, nothing cut
    assert all(f" {verdict} " in row for verdict, row in zip(VERDICTS, rows, strict=True))
    assert max(len(line) for line in text.splitlines()) < 200  # natural width, not padded to LOG_WIDTH


def test_columns_sets_the_width_and_narrow_tables_fold_instead_of_cutting(monkeypatch: pytest.MonkeyPatch) -> None:
    text, width = printed(monkeypatch, "60")
    assert width == 60
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 60
    # The whole column keeps its words while the others fold.
    assert "│ inconclusive " in text and "│ no difference " in text
    for bad in ("0", "-3", "x"):
        _, width = printed(monkeypatch, bad)
        assert width == LOG_WIDTH  # not a width: ignored, as rich ignores it


def test_a_heading_in_a_log_has_a_fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.delenv("COLUMNS", raising=False)
    console = make_console()
    assert isinstance(console, LogConsole)
    console.rule("check")
    (line,) = out.getvalue().splitlines()
    assert len(line) == HEADING_WIDTH and " check " in line


def test_progress_goes_to_stderr_with_the_same_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv("COLUMNS", "90")
    console = make_console(stderr=True)
    assert console.stderr and console.width == 90
