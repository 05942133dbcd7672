"""The one console and table factory of every command: output that survives a CI log.

rich assumes 80 columns when its output is not a terminal and COLUMNS is unset, and then cuts
cells with an ellipsis ("incon…" for a verdict). So:

- COLUMNS set: that width (rich reads it), and tables fold what does not fit, never an ellipsis;
- a terminal: its width, folding likewise;
- neither (a CI log, a pipe): lines as long as their content. Nothing is cut, and a table is as
  wide as its widest row. Only headings (`Console.rule`) keep a fixed width, since they would
  otherwise fill that whole width.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table

# Wider than any row sloguard prints: a table takes its natural width and no line is wrapped.
LOG_WIDTH = 10_000
# A heading's width in a log.
HEADING_WIDTH = 100


class LogConsole(Console):
    """A console without a width to respect (a CI log): no line wrapped or cut; headings of a fixed width."""

    def rule(self, title: Any = "", *, characters: str = "─", style: Any = "rule.line",
             align: Any = "center") -> None:
        self.print(Rule(title, characters=characters, style=style, align=align), width=HEADING_WIDTH)


def columns_from_env() -> int | None:
    """COLUMNS when it is a positive whole number."""
    text = os.environ.get("COLUMNS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def make_console(*, stderr: bool = False) -> Console:
    """The console of a command's output (stdout, or stderr for progress)."""
    stream = sys.stderr if stderr else sys.stdout
    columns = columns_from_env()
    if columns is not None:
        return Console(stderr=stderr, width=columns)
    if _is_terminal(stream):
        return Console(stderr=stderr)
    return LogConsole(stderr=stderr, width=LOG_WIDTH)


def make_table(title: str, columns: tuple[str, ...], *, justify: Any = "left", whole: tuple[str, ...] = ()) -> Table:
    """A table whose cells fold where they must and are never cut with an ellipsis.

    The `whole` columns (verdicts, statuses) are not wrapped while other columns can give up width,
    so a narrow terminal folds a metric's name before it folds "inconclusive".
    """
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify=justify, overflow="fold", no_wrap=column in whole)
    return table


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced streams (tests), closed streams
        return False
