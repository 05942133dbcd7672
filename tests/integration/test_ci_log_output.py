"""Every command that prints a table, run as a CI job runs it: no TTY, COLUMNS unset (issue 14).

rich assumes 80 columns there and used to cut cells ("statis…", "incon…" for compare's verdict,
"reque…" in the load summary). Each command gets real input: the embedded stack, a load run on
it, Prometheus's scrapes of that run, and a second target for `load ab`. A table is whole when no
cell holds an ellipsis and no row wraps onto a second line (a wrapped row would cut a word).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES
from sloguard.load.procs import Target
from sloguard.stack import wait_for_scrape
from sloguard.stackstate import read_state
from tests.support.clirun import CliResult, run_sloguard
from tests.support.processes import find_binary, missing_binary_message

pytestmark = pytest.mark.integration

for _key in ("redis", "prometheus", "alertmanager"):
    _binary = BINARIES[_key][0]
    if find_binary(_binary) is None:
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=missing_binary_message(_binary))]

ELLIPSIS = "…"
RATE = "40"


def in_a_log(*args: str, timeout: float = 180) -> CliResult:
    """The command as a CI step runs it: output captured (no TTY) and COLUMNS unset."""
    return run_sloguard(*args, timeout=timeout, unset=("COLUMNS",))


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


def tables(text: str) -> list[Table]:
    """The rich tables in `text`; fails when a header or a row took more than one line."""
    found: list[Table] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("┏"):
            continue
        header_lines = []
        j = i + 1
        while lines[j].startswith("┃"):
            header_lines.append(lines[j])
            j += 1
        assert len(header_lines) == 1, "a header wrapped:\n" + "\n".join(lines[i:j])
        assert lines[j].startswith("┡")
        rows = []
        j += 1
        while lines[j].startswith("│"):
            cells = [c.strip() for c in lines[j].strip("│").split("│")]
            # A row that wraps continues on a line whose first cell is empty; no table here has an
            # empty first cell.
            assert cells[0], "a row wrapped (a cell's words were cut):\n" + "\n".join(lines[j - 1:j + 1])
            rows.append(cells)
            j += 1
        assert lines[j].startswith("└")
        found.append(Table([c.strip() for c in header_lines[0].strip("┃").split("┃")], rows))
    return found


def whole(res: CliResult, *, codes: tuple[int, ...] = (0,), count: int | None = 1) -> list[Table]:
    """The command exited as expected and printed whole tables (`count` of them) and no ellipsis anywhere."""
    assert res.returncode in codes, res.describe()
    assert ELLIPSIS not in res.stdout + res.stderr, res.describe()
    found = tables(res.stdout)
    if count is not None:
        assert len(found) == count, res.describe()
    assert all(t.rows for t in found), res.describe()
    return found


def column(table: Table, name: str) -> list[str]:
    index = table.header.index(name)
    return [row[index] for row in table.rows]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("stack")
    up = run_sloguard("stack", "up", "--dir", str(directory), "--rollout", "50", timeout=180)
    assert up.returncode == 0, up.describe()
    state = json.loads((directory / "stack.json").read_text())
    state["dir"] = str(directory)
    try:
        yield state
    finally:
        run_sloguard("stack", "down", "--dir", str(directory), timeout=120)


@pytest.fixture(scope="module")
def load_run(stack: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliResult, Path]:
    """An open-loop run on the stack, long enough for one plain progress line (every 10 s)."""
    out = tmp_path_factory.mktemp("run")
    res = in_a_log("load", "run", "quick", "--stack", stack["dir"], "--open-loop", "--rate", RATE, "--warmup", "1s",
                   "--duration", "12s", "--output-dir", str(out))
    end = json.loads((out / "run.json").read_text())["window"]["end"]
    state = read_state(Path(stack["dir"]))
    assert state is not None
    wait_for_scrape(state, end)  # `load run --stack` waited too; this keeps the check below independent of it
    return res, out


def test_stack_status(stack: dict) -> None:
    res = in_a_log("stack", "status", "--dir", stack["dir"])
    whole(res, count=0)
    assert res.stdout.count(" healthy ") == 6, res.describe()


def test_load_profiles() -> None:
    (table,) = whole(in_a_log("load", "profiles"))
    assert "quick" in column(table, "profile")


def test_load_run_summary_and_its_progress_line(load_run: tuple[CliResult, Path]) -> None:
    res, _ = load_run
    (table,) = whole(res)
    assert table.header == ["window", "requested", "achieved", "requests", "errors", "p50", "p95", "p99", "rust %"]
    (row,) = table.rows
    assert row[1] == f"{RATE}/s" and row[2].endswith("/s") and row[5].endswith(" ms")
    # The plain progress line of a log: the phase it is in and the rate it means.
    progress = [line for line in res.stderr.splitlines() if line.startswith("load quick ")]
    assert progress, res.describe()
    assert all("[connecting]" not in line for line in progress), progress
    assert any(f"of {RATE}/s requested" in line and "[steady] sent " in line for line in progress), progress


def test_check_and_its_baseline_table(stack: dict, load_run: tuple[CliResult, Path], tmp_path: Path) -> None:
    _, run_dir = load_run
    prometheus = stack["components"]["prometheus"]["url"]
    res = in_a_log("check", "--prometheus", prometheus, "--run", str(run_dir / "run.json"), "--format", "table,json",
                   "--output-dir", str(run_dir))
    (table,) = whole(res, codes=(0, 1))
    statuses = column(table, "status")
    assert len(statuses) >= 6
    assert all(s.split()[0].rstrip(",") in ("pass", "warn", "fail", "no_data", "inconclusive") for s in statuses)
    assert "verdict: " in res.stdout
    saved = run_sloguard("baseline", "save", str(run_dir), "-o", str(tmp_path / "baseline.json"))
    assert saved.returncode == 0, saved.describe()
    again = in_a_log("check", "--prometheus", prometheus, "--run", str(run_dir / "run.json"), "--baseline",
                     str(tmp_path / "baseline.json"))
    comparison, _ = whole(again, codes=(0, 1), count=2)
    assert set(column(comparison, "verdict")) <= {"faster", "slower", "no difference", "inconclusive"}
    assert "gate: " in again.stdout


def test_compare_table(load_run: tuple[CliResult, Path]) -> None:
    _, run_dir = load_run
    res = in_a_log("compare", "--csv", str(run_dir / "latencies.csv"), "--by", "implementation", "--control",
                   "python", "--experiment", "rust")
    (table,) = whole(res, codes=(0, 1))
    assert table.header == ["metric", "n (c/e)", "statistic", "control", "experiment", "ratio", "CI", "verdict",
                            "gate"]
    assert set(column(table, "verdict")) <= {"faster", "slower", "no difference", "inconclusive"}
    assert any(line.startswith("gate: ") for line in res.stdout.splitlines())


def test_stress_table_with_its_reasons(stack: dict, tmp_path: Path) -> None:
    # An impossible p95 bound: the first step breaks, with the longest cell of any table ("why not").
    res = in_a_log("stress", "--stack", stack["dir"], "--start", "20", "--step", "20", "--max", "20",
                   "--step-duration", "2s", "--p95-max", "0.000001", "--output-dir", str(tmp_path), "--no-progress")
    (table,) = whole(res)
    (why,) = column(table, "why not")
    assert why.startswith("p95 ") and column(table, "held") == ["no"]


def test_load_ab_table(tmp_path: Path) -> None:
    with Target.start(tmp_path / "target") as target:
        twin = target.add_service("service-b")
        res = in_a_log("load", "ab", "quick", "--control", target.url, "--experiment", twin.url, "--rate", RATE,
                       "--warmup", "1s", "--duration", "3s", "--no-progress", "--admin-token", target.admin_token,
                       "--output-dir", str(tmp_path / "ab"))
    (table,) = whole(res)
    assert column(table, "side") == ["control", "experiment"]
    assert column(table, "targets") == [target.url, twin.url]


def test_report(load_run: tuple[CliResult, Path], tmp_path: Path) -> None:
    _, run_dir = load_run
    res = in_a_log("report", str(run_dir), "-o", str(tmp_path / "reports"))
    whole(res, count=0)
    assert ELLIPSIS not in (tmp_path / "reports" / "performance-report.md").read_text()
