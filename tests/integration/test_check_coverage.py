"""The check window against a real Prometheus: the future is refused, and data that covers less of it is reported.

Backfilled series start late, end early or lie before the window; the expected coverage is worked
out here from the generated sample times with Prometheus' extrapolation rule (an edge gap up to 1.1
sample intervals is extrapolated over, a longer one only by half an interval), not with sloguard's code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloguard import promql
from sloguard.prometheus import PrometheusClient
from tests.support.clirun import CliResult, run_sloguard
from tests.support.promdata import OpenMetrics, Window, counter_points
from tests.support.promharness import PrometheusServer

pytestmark = pytest.mark.integration

WINDOW = Window.hours_ago(4)  # one hour, a sample every 60 s, 30 min of data either side
LATE = 900  # python's requests begin 15 min into the window
EARLY = 1200  # the "ends" job's last sample is 20 min before the window's end
PAUSE = 180  # the "stops" job's last sample is 3 min before the end: within Prometheus' 5 min lookback


def only(points: list[tuple[int, float]], low: float, high: float) -> list[tuple[int, float]]:
    return [(t, v) for t, v in points if low <= t <= high]


def openmetrics() -> str:
    om = OpenMetrics()
    full = counter_points(WINDOW, 100.0)
    om.counter("requests_total", {"job": "full", "implementation": "rust"}, full)
    om.counter("requests_total", {"job": "full", "implementation": "python"}, only(full, WINDOW.start + LATE, 1e12))
    om.counter("requests_total", {"job": "ends"}, only(full, 0, WINDOW.end - EARLY))
    om.counter("requests_total", {"job": "before"}, only(full, 0, WINDOW.start - 1000))
    om.counter("requests_total", {"job": "stops"}, only(full, 0, WINDOW.end - PAUSE))
    steps = WINDOW.times()
    om.gauge("up", {"job": "scraped"}, [(t, 1.0) for t in steps if t <= WINDOW.end])
    om.gauge("up", {"job": "failing"}, [(t, 0.0 if t == WINDOW.end else 1.0) for t in steps if t <= WINDOW.end])
    return om.text()


def throughput(name: str, job: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "sli": {"throughput": {"metric": f'requests_total{{job="{job}"}}'}},
            "objective": {"min": 0}, **extra}


SPEC = {
    "apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": {"name": "coverage"},
    "spec": {"service": "svc", "minEvents": 1, "noData": "fail", "objectives": [
        throughput("rps", "full", by=["implementation"]),
        throughput("ends", "ends"),
        throughput("before", "before"),
        throughput("stops", "stops"),
        {"name": "raw", "sli": {"promql": {"query": "vector(1)"}}, "objective": {"max": 2}},
    ]},
}


def expected_fraction(first: float, last: float) -> float:
    """Prometheus' extrapolation over a window sampled every 60 s from `first` to `last`."""
    interval = WINDOW.step
    uncovered = 0.0
    for gap in (max(0.0, first - WINDOW.start), max(0.0, WINDOW.end - last)):
        if gap > 1.1 * interval:
            uncovered += gap - interval / 2
    return 1 - uncovered / WINDOW.seconds


@pytest.fixture(scope="module")
def prom(backfill_prometheus) -> PrometheusServer:
    return backfill_prometheus(openmetrics())


def check(prom: PrometheusServer, tmp: Path, start: float, end: float, formats: str = "json") -> CliResult:
    spec_file = tmp / "slo.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    return run_sloguard("check", "-f", str(spec_file), "--prometheus", prom.url, "--start", str(start),
                        "--end", str(end), "--format", formats, "--output-dir", str(tmp / "out"))


def objectives(tmp: Path) -> dict[tuple[str, str], dict[str, Any]]:
    report = json.loads((tmp / "out" / "sloguard-report.json").read_text())
    return {(o["name"], o["group"]): o for o in report["objectives"]}


@pytest.fixture(scope="module")
def report(prom: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliResult, Path]:
    tmp = tmp_path_factory.mktemp("coverage")
    return check(prom, tmp, WINDOW.start, WINDOW.end, "table,json"), tmp


def test_each_objective_and_group_carries_its_coverage(report: tuple[CliResult, Path]) -> None:
    result, tmp = report
    got = objectives(tmp)
    rust, python = got[("rps", "implementation=rust")], got[("rps", "implementation=python")]
    assert rust["coverage"]["fraction"] == 1.0 and rust["reason"] == "", rust
    assert python["coverage"]["fraction"] == pytest.approx(expected_fraction(WINDOW.start + LATE, WINDOW.end),
                                                           abs=1e-4), python
    assert python["coverage"]["sampleSeconds"] == pytest.approx(60.0)
    assert python["status"] == "pass"  # short coverage is reported, not judged
    assert "data covers 75.8 % of the window: its first sample is 15.0 min after the start" in python["reason"]
    ends = got[("ends", "")]
    assert ends["coverage"]["fraction"] == pytest.approx(expected_fraction(WINDOW.start, WINDOW.end - EARLY),
                                                         abs=1e-4)
    assert "its last sample is 20.0 min before the end" in ends["reason"]
    stops = got[("stops", "")]
    assert stops["coverage"]["fraction"] == pytest.approx(expected_fraction(WINDOW.start, WINDOW.end - PAUSE),
                                                          abs=1e-4)
    assert "its last sample is 3.0 min before the end" in stops["reason"]
    assert got[("raw", "")]["coverage"] is None
    top = json.loads((tmp / "out" / "sloguard-report.json").read_text())["coverage"]
    assert top == {"fraction": 0.0, "measured": 5, "short": 4}
    assert "warning: rps [implementation=python]: data covers 75.8 % of the window" in result.stdout, \
        result.describe()


def test_a_series_with_no_sample_in_the_window_says_so(report: tuple[CliResult, Path]) -> None:
    _, tmp = report
    before = objectives(tmp)[("before", "")]
    assert before["status"] == "no_data"
    assert before["reason"] == 'the query returned no value; no sample of requests_total{job="before"} in the window'
    assert before["coverage"]["fraction"] == 0.0


def test_a_window_before_the_oldest_sample_says_so(prom: PrometheusServer, tmp_path: Path) -> None:
    # The data begins 30 min before WINDOW; this window ends an hour before that.
    result = check(prom, tmp_path, WINDOW.start - 3 * 3600, WINDOW.start - 2 * 3600)
    assert result.returncode == 1, result.describe()
    got = objectives(tmp_path)
    for key in (("rps", ""), ("ends", ""), ("before", ""), ("stops", "")):
        assert "no sample of requests_total" in got[key]["reason"], got[key]
        assert got[key]["coverage"]["fraction"] == 0.0


def test_a_window_starting_before_the_oldest_sample_reports_the_late_start(prom: PrometheusServer,
                                                                             tmp_path: Path) -> None:
    start = WINDOW.start - 1800 - 1200  # 20 min before the first sample of "full"
    result = check(prom, tmp_path, start, start + 3600)
    got = objectives(tmp_path)[("rps", "implementation=rust")]
    assert "its first sample is 20.0 min after the start" in got["reason"], result.describe()


def test_a_window_that_ends_in_the_future_is_an_error(prom: PrometheusServer, tmp_path: Path) -> None:
    now = time.time()
    result = check(prom, tmp_path, now - 600, now + 3600)
    assert result.returncode == 2, result.describe()
    [line] = result.stderr_lines()
    assert line.startswith("sloguard: error: the window ends at ") and "in the future" in line, line
    assert not (tmp_path / "out").exists()


def test_last_successful_scrape_is_the_scrape_s_time_not_the_query_s(prom: PrometheusServer) -> None:
    at = WINDOW.end + 30
    with PrometheusClient(prom.url) as client:
        [scraped] = client.instant_query(promql.last_successful_scrape("scraped"), at)
        assert scraped.value == WINDOW.end
        # The latest scrape failed (up 0): no successful scrape since the one before it counts as "last".
        assert client.instant_query(promql.last_successful_scrape("failing"), at) == []
