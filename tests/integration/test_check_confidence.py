"""`sloguard check` prints and writes each value's confidence interval, read from a real Prometheus.

The TSDB is backfilled with histograms and counters generated here (tests/support/promdata.py).
The expected intervals come from the generated counts: the bucket increases by plain arithmetic,
then sloguard.intervals (whose formulas and coverage tests/unit/test_intervals.py holds), so what
this module proves is the path: the bucket-count query, its grouping, and every report format.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloguard.intervals import quantile_interval, wilson
from tests.support.clirun import CliResult, run_sloguard
from tests.support.promdata import (
    COARSE_BUCKETS,
    OpenMetrics,
    Window,
    bucket_increases,
    counter_points,
    histogram_points,
    histogram_quantile,
    window_increase,
)
from tests.support.promharness import PrometheusServer

JOB = "confidence"
LATENCY = "c_latency_seconds"
REQUESTS = "c_requests_total"
# Per minute (one step) for an hour: 4,740 events, p95 503 µs, 95 % CI 497–532 µs against <= 500 µs.
PYTHON_PER_STEP = {0.00025: 36, 0.0005: 39, 0.00075: 4}
RUST_PER_STEP = {0.00005: 90, 0.0001: 10}  # p95 87.5 µs, far from the bound
REQUESTS_PER_STEP = {"allow": 99, "error": 1}  # 1 % errors of 6,000 against <= 1 %: a pass within noise


@dataclass
class Data:
    window: Window
    om: OpenMetrics = field(default_factory=OpenMetrics)
    buckets: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    errors: float = 0.0
    total: float = 0.0


@functools.cache
def data() -> Data:
    d = Data(Window.hours_ago(4))
    for impl, per_step in (("python", PYTHON_PER_STEP), ("rust", RUST_PER_STEP)):
        points = histogram_points(d.window, per_step, bounds=COARSE_BUCKETS)
        d.om.histogram(LATENCY, {"job": JOB, "implementation": impl}, points)
        d.buckets[impl] = bucket_increases(points, d.window)
    for decision, inc in REQUESTS_PER_STEP.items():
        points = counter_points(d.window, inc)
        d.om.counter(REQUESTS, {"job": JOB, "decision": decision}, points)
        d.total += window_increase(points, d.window)
        d.errors += window_increase(points, d.window) if decision == "error" else 0.0
    return d


def spec(decide_on: str = "estimate", no_data: str = "fail") -> dict[str, Any]:
    return {
        "apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": {"name": "confidence"},
        "spec": {
            "service": "sark", "selector": {"job": JOB}, "noData": no_data, "decideOn": decide_on,
            "objectives": [
                {"name": "cache-p95", "sli": {"latency": {"metric": LATENCY, "quantile": 0.95}},
                 "by": ["implementation"], "objective": {"max": 0.0005}},
                {"name": "errors", "sli": {"errorRatio": {"errors": f'{REQUESTS}{{decision="error"}}',
                                                          "total": REQUESTS}},
                 "objective": {"max": 0.01}},
            ],
        },
    }


@dataclass
class Checked:
    result: CliResult
    report: dict[str, Any]
    out: Path

    def entry(self, name: str, group: str = "") -> dict[str, Any]:
        [found] = [o for o in self.report["objectives"] if o["name"] == name and o["group"] == group]
        return found


def run_check(prom: PrometheusServer, document: dict[str, Any], tmp: Path) -> Checked:
    window = data().window
    spec_file = tmp / "slo.yaml"
    spec_file.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp / "out"
    result = run_sloguard("check", "-f", str(spec_file), "--prometheus", prom.url, "--start", str(window.start),
                          "--end", str(window.end), "--format", "table,json,junit,markdown", "--output-dir", str(out))
    report_file = out / "sloguard-report.json"
    assert report_file.exists(), result.describe()
    return Checked(result, json.loads(report_file.read_text()), out)


@pytest.fixture(scope="module")
def prom(backfill_prometheus) -> PrometheusServer:
    return backfill_prometheus(data().om.text())


@pytest.fixture(scope="module")
def estimate(prom: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    return run_check(prom, spec(), tmp_path_factory.mktemp("estimate"))


def test_the_latency_interval_is_the_one_of_the_windows_bucket_counts(estimate: Checked) -> None:
    python = estimate.entry("cache-p95", "implementation=python")
    expected = quantile_interval(0.95, data().buckets["python"])
    assert expected is not None and expected.low < 0.0005 < expected.high  # the data says what the test claims
    assert python["value"] == pytest.approx(histogram_quantile(0.95, data().buckets["python"]), rel=1e-9)
    assert python["interval"] == {"low": pytest.approx(expected.low, rel=1e-9),
                                  "high": pytest.approx(expected.high, rel=1e-9),
                                  "level": 0.95, "method": "histogram ranks"}
    assert python["status"] == "fail" and python["withinNoise"] is True and python["decideOn"] == "estimate"
    assert python["bucketsQuery"] == (f'sum by (le, implementation) (increase({LATENCY}_bucket{{job="{JOB}"}}'
                                      f'[{data().window.seconds}s]))')
    rust = estimate.entry("cache-p95", "implementation=rust")
    assert rust["status"] == "pass" and rust["withinNoise"] is False and rust["interval"]["high"] < 0.0005


def test_the_error_ratio_interval_is_wilsons_of_the_windows_counts(estimate: Checked) -> None:
    errors = estimate.entry("errors")
    expected = wilson(data().errors, data().total)
    assert expected is not None
    assert errors["value"] == pytest.approx(0.01) and errors["events"] == pytest.approx(6000)
    assert (errors["interval"]["low"], errors["interval"]["high"]) == pytest.approx((expected.low, expected.high))
    assert errors["status"] == "pass" and errors["withinNoise"] is True


def test_every_report_prints_the_interval_and_the_noise(estimate: Checked) -> None:
    assert estimate.result.returncode == 1, estimate.result.describe()  # decided on the estimate, as before
    stdout = estimate.result.stdout
    assert "95 % CI" in stdout
    assert "fail, within noise: 95 % CI 497–532 µs" in stdout, stdout
    assert "pass, within noise: 95 % CI 0.778–1.28 %" in stdout, stdout
    junit_text = (estimate.out / "sloguard-junit.xml").read_text()
    assert "fail, within noise: 95 % CI 497–532 µs" in junit_text
    summary = (estimate.out / "sloguard-summary.md").read_text()
    assert "| 95 % CI |" in summary and "fail, within noise: 95 % CI 497–532 µs" in summary


@pytest.mark.parametrize(("no_data", "code", "counts_as"), [("fail", 1, "fail"), ("pass", 0, "pass")])
def test_decide_on_confidence_is_inconclusive_within_noise(prom: PrometheusServer, tmp_path: Path, no_data: str,
                                                           code: int, counts_as: str) -> None:
    checked = run_check(prom, spec("confidence", no_data), tmp_path)
    assert checked.result.returncode == code, checked.result.describe()
    python = checked.entry("cache-p95", "implementation=python")
    assert python["status"] == "inconclusive" and python["countsAs"] == counts_as
    assert python["reason"] == "the 95 % CI straddles the objective"
    assert checked.entry("cache-p95", "implementation=rust")["status"] == "pass"
    assert checked.entry("errors")["status"] == "inconclusive"
    assert "inconclusive, within noise: 95 % CI 497–532 µs" in checked.result.stdout
    assert None not in (python["interval"]["low"], python["interval"]["high"])  # both ends bounded
