"""Different p95 bounds for Rust and Python with label matchers, judged by a real Prometheus on backfilled data.

Two by-less objectives read one histogram, each through its own `implementation` matcher. The
data is built so that a check that dropped the matchers (or the spec's selector) would read the
other path's or a decoy job's observations and reach another verdict; the expected values come
from the generated counts with plain arithmetic (tests/support/promdata.py).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.clirun import CliResult, run_sloguard
from tests.support.promdata import INF, OpenMetrics, Window, bucket_increases, histogram_points, histogram_quantile
from tests.support.promharness import PrometheusServer

pytestmark = pytest.mark.integration

HISTOGRAM = "opa_evaluation_duration_seconds"
WINDOW = Window.hours_ago(4)
# Observations per minute inside the window, per upper bound.
RUST = {0.0005: 80, 0.00075: 15, 0.001: 4, 0.0025: 1}  # p95 0.75 ms, 99 % within 1 ms
PYTHON = {0.001: 30, 0.0025: 50, 0.005: 18, 0.01: 2}  # p95 about 4.6 ms, 30 % within 1 ms
DECOY = {0.05: 100}  # job "other", implementation "rust": read only if spec.selector were dropped


def increases(per_step: dict[float, int]) -> list[tuple[float, float]]:
    return bucket_increases(histogram_points(WINDOW, per_step), WINDOW)


def p95(per_step: dict[float, int]) -> float:
    return histogram_quantile(0.95, increases(per_step))


def within(per_step: dict[float, int], threshold: float) -> float:
    counts = dict(increases(per_step))
    return counts[threshold] / counts[INF]


def openmetrics() -> str:
    om = OpenMetrics()
    for labels, per_step in (({"job": "sark", "implementation": "rust"}, RUST),
                             ({"job": "sark", "implementation": "python"}, PYTHON),
                             ({"job": "other", "implementation": "rust"}, DECOY)):
        om.histogram(HISTOGRAM, labels, histogram_points(WINDOW, per_step))
    return om.text()


def objective(name: str, implementation: str, bound: dict[str, float], kind: str = "latency") -> dict[str, Any]:
    metric = f'{HISTOGRAM}{{implementation="{implementation}"}}'
    sli = {"metric": metric, "quantile": 0.95} if kind == "latency" else {"metric": metric, "threshold": 0.001}
    return {"name": name, "sli": {kind: sli}, "objective": bound}


def spec_document(objectives: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": {"name": "paths"},
            "spec": {"service": "sark", "selector": {"job": "sark"}, "objectives": objectives}}


PASSING = [objective("opa-p95-rust", "rust", {"max": 0.001}),
           objective("opa-p95-python", "python", {"max": 0.005}),
           objective("opa-fast-rust", "rust", {"min": 0.98}, "latencyRatio")]
FAILING = [objective("opa-p95-rust", "rust", {"max": 0.001}),
           objective("opa-p95-python", "python", {"max": 0.003}),
           objective("opa-fast-python", "python", {"min": 0.98}, "latencyRatio")]
EXPECTED_VALUES = {"opa-p95-rust": p95(RUST), "opa-p95-python": p95(PYTHON), "opa-fast-rust": within(RUST, 0.001),
                   "opa-fast-python": within(PYTHON, 0.001)}


def test_the_data_tells_a_check_without_matchers_apart() -> None:
    """Both paths together (what a check without the matchers reads) fail the Rust bound; the decoy fails it too."""
    both = {bound: RUST.get(bound, 0) + PYTHON.get(bound, 0) for bound in {*RUST, *PYTHON}}
    assert p95(RUST) <= 0.001 < p95(both)
    assert p95({**DECOY, **{b: RUST[b] for b in RUST}}) > 0.001
    assert 0.003 < p95(PYTHON) <= 0.005
    assert within(RUST, 0.001) >= 0.98 > within(PYTHON, 0.001)


@dataclass
class Checked:
    result: CliResult
    report: dict[str, Any]


def run_check(prom: PrometheusServer, objectives: list[dict[str, Any]], tmp: Path) -> Checked:
    spec_file = tmp / "slo.yaml"
    spec_file.write_text(yaml.safe_dump(spec_document(objectives), sort_keys=False))
    validated = run_sloguard("validate", str(spec_file))
    assert validated.returncode == 0, validated.describe()
    out = tmp / "out"
    result = run_sloguard("check", "-f", str(spec_file), "--prometheus", prom.url, "--start", str(WINDOW.start),
                          "--end", str(WINDOW.end), "--format", "json", "--output-dir", str(out))
    report = out / "sloguard-report.json"
    assert report.exists(), result.describe()
    return Checked(result, json.loads(report.read_text()))


@pytest.fixture(scope="module")
def prom(backfill_prometheus) -> PrometheusServer:
    return backfill_prometheus(openmetrics())


def statuses(checked: Checked) -> dict[str, str]:
    return {entry["name"]: entry["status"] for entry in checked.report["objectives"]}


def assert_values(checked: Checked) -> None:
    for entry in checked.report["objectives"]:
        assert entry["group"] == ""  # by-less: one verdict per objective
        assert entry["value"] == pytest.approx(EXPECTED_VALUES[entry["name"]], rel=1e-9), entry
        implementation = entry["name"].rsplit("-", 1)[1]
        assert f'{HISTOGRAM}_bucket{{job="sark",implementation="{implementation}"' in entry["query"], entry


def test_each_path_meets_its_own_bound_and_the_check_passes(prom: PrometheusServer, tmp_path: Path) -> None:
    checked = run_check(prom, PASSING, tmp_path)
    assert checked.result.returncode == 0, checked.result.describe()
    assert statuses(checked) == {"opa-p95-rust": "pass", "opa-p95-python": "pass", "opa-fast-rust": "pass"}
    assert_values(checked)


def test_python_missing_a_tighter_bound_fails_while_rust_still_passes(prom: PrometheusServer,
                                                                      tmp_path: Path) -> None:
    checked = run_check(prom, FAILING, tmp_path)
    assert checked.result.returncode == 1, checked.result.describe()
    assert statuses(checked) == {"opa-p95-rust": "pass", "opa-p95-python": "fail", "opa-fast-python": "fail"}
    assert checked.report["verdict"] == "fail"
    assert_values(checked)


def test_rules_for_the_spec_pass_promtool_check_rules(promtool_bin: str, tmp_path: Path) -> None:
    spec_file = tmp_path / "slo.yaml"
    spec_file.write_text(yaml.safe_dump(spec_document([*PASSING, FAILING[2]]), sort_keys=False))
    generated = run_sloguard("rules", "generate", "-f", str(spec_file), "-o", str(tmp_path / "alerts"))
    assert generated.returncode == 0, generated.describe()
    files = sorted((tmp_path / "alerts").glob("*.yml"))
    assert files
    text = "".join(path.read_text() for path in files)
    assert f'{HISTOGRAM}_bucket{{job="sark",implementation="python",le="0.001"}}' in text
    checked = subprocess.run([promtool_bin, "check", "rules", *map(str, files)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(files)
