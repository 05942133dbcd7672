"""Windows and spec variables from the command line and from a load run's run.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloguard.cli.options import parse_variables, resolve_window
from sloguard.durations import parse_time
from sloguard.errors import UsageError
from sloguard.runs import read_slo_variables as run_variables


def test_last_ends_now() -> None:
    window = resolve_window(last="10m", start=None, end=None, run=None, now=10_000.0)
    assert (window.start, window.end) == (9_400.0, 10_000.0)


def test_start_and_end_accept_unix_seconds_and_rfc3339() -> None:
    window = resolve_window(last=None, start="1795700000", end="2026-11-26T13:43:20Z", run=None, now=0)
    assert window.start == 1795700000 and window.seconds == pytest.approx(0, abs=1e6)


@pytest.mark.parametrize(
    "kwargs",
    [dict(last="1m", start="1", end="2", run=None), dict(last=None, start=None, end=None, run=None),
     dict(last=None, start="5", end=None, run=None), dict(last=None, start="10", end="5", run=None)],
)
def test_conflicting_or_empty_windows_are_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        resolve_window(now=100.0, **kwargs)


def test_a_time_without_zone_is_refused() -> None:
    with pytest.raises(UsageError, match="no timezone"):
        parse_time("2026-11-26T13:00:00", now=0)


def test_run_file_gives_the_window_and_the_slo_variables(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"window": {"start": 100.5, "end": 160.5}, "sloVariables": {"minThroughput": 90}}))
    window = resolve_window(last=None, start=None, end=None, run=str(run), now=0)
    assert (window.start, window.end) == (100.5, 160.5)
    assert run_variables(run) == {"minThroughput": 90.0}


def test_a_run_without_slo_variables_sets_none(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"window": {"start": 1, "end": 2}}))
    assert run_variables(run) == {}


def test_var_options() -> None:
    assert parse_variables(["minThroughput=90", "x=1.5"]) == {"minThroughput": 90.0, "x": 1.5}
    with pytest.raises(UsageError, match="NAME=NUMBER"):
        parse_variables(["minThroughput"])
