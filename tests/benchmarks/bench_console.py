"""What a table costs to print at a log's natural width against 80 folded columns.

`report/console.py` gives a console without a TTY or COLUMNS a width of LOG_WIDTH (10,000), so
that tables take their natural width; this checks that rendering at that width costs no more than
at 80 columns, and that neither cuts a cell.

    python -m tests.benchmarks.bench_console
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
from rich.console import Console

from sloguard.compare import CompareSettings, Comparison, compare_samples
from sloguard.report import comparison as comparison_table
from sloguard.report.console import LOG_WIDTH, LogConsole

REPEATS = 30


def comparison() -> Comparison:
    rng = np.random.default_rng(1)
    metrics = tuple(compare_samples(f"latency {{implementation={impl}}}", rng.lognormal(-6, 0.5, 3000),
                                    rng.lognormal(-6, 0.5, 3000)) for impl in ("python", "rust", "python", "rust"))
    return Comparison("runs/main/latencies.csv", "runs/pr/latencies.csv", CompareSettings(), metrics)


def measure(make: Callable[[io.StringIO], Console], subject: Comparison) -> tuple[float, str]:
    best, text = float("inf"), ""
    for _ in range(REPEATS):
        buffer = io.StringIO()
        console = make(buffer)
        began = time.perf_counter()
        comparison_table.render(subject, console)
        best = min(best, time.perf_counter() - began)
        text = buffer.getvalue()
    return best, text


def main() -> None:
    subject = comparison()
    for name, make in (("COLUMNS=80", lambda f: Console(file=f, width=80)),
                       (f"no TTY, no COLUMNS (width {LOG_WIDTH})", lambda f: LogConsole(file=f, width=LOG_WIDTH))):
        seconds, text = measure(make, subject)
        lines = text.splitlines()
        print(f"{name}: best of {REPEATS} {seconds * 1000:.1f} ms, {len(lines)} lines, longest "
              f"{max(len(line) for line in lines)} characters, {text.count('…')} ellipses")


if __name__ == "__main__":
    main()
