"""`sloguard check` against a real Prometheus on a TSDB backfilled with data generated here.

For each of the six SLI kinds: a pass, a warn, a fail and a no_data case, with the expected
value computed from the generated counts with plain arithmetic (tests/support/promdata.py), never
with sloguard's code. One Prometheus and one check run serve most tests of this module.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.clirun import CliResult, run_sloguard
from tests.support.promdata import (
    INF,
    OpenMetrics,
    Window,
    bucket_increases,
    counter_points,
    gauge_points,
    histogram_points,
    histogram_quantile,
    in_window,
    least_squares_slope,
    window_increase,
)
from tests.support.promharness import PrometheusServer

JOB = "kinds"
DECOY_JOB = "decoy"  # same metric names, wild values: counted only if the spec's selector is ignored
WEIRD_JOB = 'we"ird\\path.x'  # quotes, a backslash and a regex metacharacter
WEIRD_DECOYS = ('we"ird\\pathyx', 'we"ird\\\\path.x', "weird\\path.x")
NOISE = (0.0, 40_000.0, -25_000.0, 10_000.0, -60_000.0, 30_000.0, 5_000.0)

LATENCY_BOUNDS = {"objective": {"max": 0.005}, "warning": {"max": 0.004}}
RATIO_BOUNDS = {"objective": {"min": 0.99}, "warning": {"min": 0.995}}
ERROR_BOUNDS = {"objective": {"max": 0.01}, "warning": {"max": 0.005}}
THROUGHPUT_BOUNDS = {"objective": {"min": 2000}, "warning": {"min": 2500}}
MEMORY_BOUNDS = {"objective": {"max": 1048576}, "warning": {"max": 524288}}
PROMQL_BOUNDS = {"objective": {"max": 1000}, "warning": {"max": 800}}


@dataclass
class Expect:
    status: str
    value: float | None  # None: not asserted (no value exists)
    events: float | None = None


@dataclass
class Scenario:
    window: Window
    om: OpenMetrics = field(default_factory=OpenMetrics)
    objectives: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[tuple[str, str], Expect] = field(default_factory=dict)

    def objective(self, name: str, sli: dict[str, Any], bounds: dict[str, Any], **extra: Any) -> None:
        self.objectives.append({"name": name, "sli": sli, **bounds, **extra})

    def expect(self, name: str, status: str, value: float | None, *, group: str = "", events: float | None = None,
               bounds: dict[str, Any] | None = None) -> None:
        if bounds is not None and value is not None and status in ("pass", "warn", "fail"):
            # The generated data must say what the case claims, or the test proves nothing.
            assert status == classify(value, bounds), (name, group, value, bounds)
        self.expected[(name, group)] = Expect(status, value, events)


def classify(value: float, bounds: dict[str, Any]) -> str:
    def inside(bound: dict[str, float]) -> bool:
        return bound.get("min", -math.inf) <= value <= bound.get("max", math.inf)

    if not inside(bounds["objective"]):
        return "fail"
    if "warning" in bounds and not inside(bounds["warning"]):
        return "warn"
    return "pass"


def spec_document(objectives: list[dict[str, Any]], *, selector: dict[str, str] | None = None,
                  no_data: str = "fail", min_events: int = 100, name: str = "kinds") -> dict[str, Any]:
    """A v1 spec as in docs/architecture.md ("Spec v1")."""
    return {
        "apiVersion": "sloguard/v1",
        "kind": "SLOSet",
        "metadata": {"name": name},
        "spec": {
            "service": "sark",
            "selector": selector if selector is not None else {"job": JOB},
            "noData": no_data,
            "minEvents": min_events,
            "objectives": objectives,
        },
    }


# ---- the data: one builder per SLI kind ---------------------------------------------------------


def add_latency(s: Scenario) -> None:
    cases = {
        "pass": {0.0005: 60, 0.001: 30, 0.0025: 8, 0.005: 2},
        "warn": {0.001: 80, 0.005: 20},
        "fail": {0.001: 80, 0.01: 20},
        "few": {0.001: 1},  # 60 observations in the window, fewer than minEvents
    }
    for case, per_step in cases.items():
        metric = f"k_lat_{case}_seconds"
        points = histogram_points(s.window, per_step)
        s.om.histogram(metric, {"job": JOB}, points)
        increases = bucket_increases(points, s.window)
        value = histogram_quantile(0.95, increases)
        status = "no_data" if case == "few" else case
        s.objective(f"latency-{case}", {"latency": {"metric": metric, "quantile": 0.95}}, LATENCY_BOUNDS)
        s.expect(f"latency-{case}", status, value, events=dict(increases)[INF], bounds=LATENCY_BOUNDS)
    s.om.histogram("k_lat_pass_seconds", {"job": DECOY_JOB}, histogram_points(s.window, {10.0: 5000}))
    s.objective("latency-absent", {"latency": {"metric": "k_lat_absent_seconds", "quantile": 0.95}},
                LATENCY_BOUNDS)
    s.expect("latency-absent", "no_data", None)


def add_latency_ratio(s: Scenario) -> None:
    cases = {
        "pass": {0.0025: 500, 0.005: 497, 0.01: 3},
        "warn": {0.005: 992, 0.025: 8},
        "fail": {0.001: 900, 0.005: 50, 0.05: 50},
        "few": {0.005: 1},
    }
    for case, per_step in cases.items():
        metric = f"k_ratio_{case}_seconds"
        points = histogram_points(s.window, per_step)
        s.om.histogram(metric, {"job": JOB}, points)
        increases = dict(bucket_increases(points, s.window))
        value = increases[0.005] / increases[INF]
        status = "no_data" if case == "few" else case
        s.objective(f"ratio-{case}", {"latencyRatio": {"metric": metric, "threshold": 0.005}}, RATIO_BOUNDS)
        s.expect(f"ratio-{case}", status, value, events=increases[INF], bounds=RATIO_BOUNDS)
    s.om.histogram("k_ratio_pass_seconds", {"job": DECOY_JOB}, histogram_points(s.window, {1.0: 9000}))
    s.objective("ratio-absent", {"latencyRatio": {"metric": "k_ratio_absent_seconds", "threshold": 0.005}},
                RATIO_BOUNDS)
    s.expect("ratio-absent", "no_data", None)


def add_error_ratio(s: Scenario) -> None:
    cases = {
        "pass": {"allow": 900, "deny": 97, "error": 3},
        "warn": {"allow": 900, "deny": 92, "error": 8},
        "fail": {"allow": 900, "deny": 80, "error": 20},
        "zero": {"allow": 900, "deny": 100},  # no error series exists at all: ratio 0, not no_data
        "few": {"allow": 1},
    }
    for case, per_step in cases.items():
        metric = f"k_req_{case}_total"
        errors = total = 0.0
        for decision, inc in per_step.items():
            points = counter_points(s.window, inc)
            s.om.counter(metric, {"job": JOB, "decision": decision}, points)
            total += window_increase(points, s.window)
            errors += window_increase(points, s.window) if decision == "error" else 0.0
        sli = {"errorRatio": {"errors": f'{metric}{{decision="error"}}', "total": metric}}
        status = {"zero": "pass", "few": "no_data"}.get(case, case)
        s.objective(f"errors-{case}", sli, ERROR_BOUNDS)
        s.expect(f"errors-{case}", status, errors / total, events=total, bounds=ERROR_BOUNDS)
    s.om.counter("k_req_pass_total", {"job": DECOY_JOB, "decision": "error"}, counter_points(s.window, 50_000))
    sli = {"errorRatio": {"errors": 'k_req_absent_total{decision="error"}', "total": "k_req_absent_total"}}
    s.objective("errors-absent", sli, ERROR_BOUNDS)
    s.expect("errors-absent", "no_data", None)


def add_throughput(s: Scenario) -> None:
    cases = {"pass": (120_000, 60_000), "warn": (100_000, 32_000), "fail": (40_000, 20_000)}
    for case, per_impl in cases.items():
        metric = f"k_tp_{case}_total"
        total = 0.0
        for impl, inc in zip(("rust", "python"), per_impl, strict=True):
            points = counter_points(s.window, inc)
            s.om.counter(metric, {"job": JOB, "implementation": impl}, points)
            total += window_increase(points, s.window)
        s.objective(f"throughput-{case}", {"throughput": {"metric": metric}}, THROUGHPUT_BOUNDS)
        s.expect(f"throughput-{case}", case, total / s.window.seconds, events=total, bounds=THROUGHPUT_BOUNDS)
    s.om.counter("k_tp_fail_total", {"job": DECOY_JOB}, counter_points(s.window, 900_000))
    s.objective("throughput-absent", {"throughput": {"metric": "k_tp_absent_total"}}, THROUGHPUT_BOUNDS)
    s.expect("throughput-absent", "no_data", None)


def add_memory_growth(s: Scenario) -> None:
    # bytes/second per instance inside the window; outside it memory grows 3000 B/s, so a
    # wrong window fails every case. The noise makes deriv() differ from (last - first) / R.
    cases = {"pass": (50.0, 10.0), "warn": (200.0, 100.0), "fail": (10.0, 500.0)}
    for case, slopes in cases.items():
        metric = f"k_mem_{case}_bytes"
        worst = -math.inf
        for instance, slope in zip(("a:9100", "b:9100"), slopes, strict=True):
            points = gauge_points(s.window, slope, 3000.0, noise=NOISE)
            s.om.gauge(metric, {"job": JOB, "instance": instance}, points)
            worst = max(worst, least_squares_slope(in_window(points, s.window)))
        sli = {"memoryGrowth": {"metric": metric, "per": "1h"}}
        s.objective(f"memory-{case}", sli, MEMORY_BOUNDS)
        s.expect(f"memory-{case}", case, worst * 3600, events=len(in_window(points, s.window)),
                 bounds=MEMORY_BOUNDS)
    s.om.gauge("k_mem_pass_bytes", {"job": DECOY_JOB, "instance": "a:9100"},
               gauge_points(s.window, 90_000.0, 0.0))
    # One sample every 15 minutes: 5 in the window, fewer than MIN_GROWTH_SAMPLES (10).
    sparse = gauge_points(s.window, 10.0, 10.0, step=900)
    s.om.gauge("k_mem_sparse_bytes", {"job": JOB, "instance": "a:9100"}, sparse)
    s.objective("memory-sparse", {"memoryGrowth": {"metric": "k_mem_sparse_bytes", "per": "1h"}}, MEMORY_BOUNDS)
    s.expect("memory-sparse", "no_data", 36_000.0, events=len(in_window(sparse, s.window)))
    s.objective("memory-absent", {"memoryGrowth": {"metric": "k_mem_absent_bytes", "per": "1h"}}, MEMORY_BOUNDS)
    s.expect("memory-absent", "no_data", None)


def add_promql(s: Scenario) -> None:
    for case, inc in {"pass": 10, "warn": 15, "fail": 20}.items():
        points = counter_points(s.window, inc)
        s.om.counter("k_custom_total", {"job": JOB, "case": case}, points)
        query = f'sum(increase(k_custom_total{{job="{JOB}",case="{case}"}}[{{{{window}}}}]))'
        s.objective(f"promql-{case}", {"promql": {"query": query}}, PROMQL_BOUNDS)
        s.expect(f"promql-{case}", case, window_increase(points, s.window), bounds=PROMQL_BOUNDS)
    query = 'sum(increase(k_custom_total{job="kinds",case="absent"}[{{window}}]))'
    s.objective("promql-absent", {"promql": {"query": query}}, PROMQL_BOUNDS)
    s.expect("promql-absent", "no_data", None)


def add_promql_ratio(s: Scenario) -> None:
    """Sloth's events and raw SLIs: raw PromQL ratios, {{window}} filled with the check window."""
    cases = {"pass": (997, 3), "warn": (992, 8), "fail": (980, 20)}
    shapes = ("errors", "good", "ratio")
    for index, (case, (ok, bad)) in enumerate(cases.items()):
        metric = f"k_pr_{case}_total"
        good_points, bad_points = counter_points(s.window, ok), counter_points(s.window, bad)
        s.om.counter(metric, {"job": JOB, "code": "200"}, good_points)
        s.om.counter(metric, {"job": JOB, "code": "500"}, bad_points)
        good, errors = window_increase(good_points, s.window), window_increase(bad_points, s.window)
        rate_of = f'sum(rate({metric}{{{{job="{JOB}"{{labels}}}}}}[{{{{{{{{window}}}}}}}}]))'
        errors_query = rate_of.format(labels=',code="500"')
        good_query, total_query = rate_of.format(labels=',code="200"'), rate_of.format(labels="")
        shape = shapes[index]  # each shape once, so the three cases cover all of them
        if shape == "errors":
            sli, bounds, value = {"errorQuery": errors_query, "totalQuery": total_query}, ERROR_BOUNDS, errors
        elif shape == "good":
            sli, bounds, value = {"goodQuery": good_query, "totalQuery": total_query}, RATIO_BOUNDS, good
        else:
            sli, bounds, value = {"errorRatioQuery": f"{errors_query} / {total_query}"}, ERROR_BOUNDS, errors
        for name, shape_sli, shape_bounds, shape_value in (
            (f"promql-ratio-{case}", sli, bounds, value),
            (f"promql-ratio-{case}-errors", {"errorQuery": errors_query, "totalQuery": total_query}, ERROR_BOUNDS,
             errors),
        ):
            s.objective(name, {"promqlRatio": shape_sli}, shape_bounds)
            s.expect(name, case, shape_value / (good + errors), bounds=shape_bounds)
    absent = 'sum(rate(k_pr_absent_total[{{window}}]))'
    s.objective("promql-ratio-absent", {"promqlRatio": {"errorQuery": absent, "totalQuery": absent}}, ERROR_BOUNDS)
    s.expect("promql-ratio-absent", "no_data", None)


def add_grouping(s: Scenario) -> None:
    """`by: [implementation]`: one verdict per label value."""
    per_impl = {"rust": {0.0005: 90, 0.001: 10}, "python": {0.0025: 50, 0.025: 50}}
    for impl, per_step in per_impl.items():
        points = histogram_points(s.window, per_step)
        s.om.histogram("k_by_latency_seconds", {"job": JOB, "implementation": impl}, points)
        value = histogram_quantile(0.95, bucket_increases(points, s.window))
        s.expect("by-latency", classify(value, LATENCY_BOUNDS), value, group=f"implementation={impl}")
    s.objective("by-latency", {"latency": {"metric": "k_by_latency_seconds", "quantile": 0.95}}, LATENCY_BOUNDS,
                by=["implementation"])

    # Errors only on the rust path: python's ratio is 0 (no error series), not no_data.
    requests = {"rust": {"allow": 1000, "error": 5}, "python": {"allow": 1000}}
    for impl, per_decision in requests.items():
        errors = total = 0.0
        for decision, inc in per_decision.items():
            points = counter_points(s.window, inc)
            s.om.counter("k_by_requests_total", {"job": JOB, "implementation": impl, "decision": decision}, points)
            total += window_increase(points, s.window)
            errors += window_increase(points, s.window) if decision == "error" else 0.0
        s.expect("by-errors", classify(errors / total, ERROR_BOUNDS), errors / total, group=f"implementation={impl}",
                 events=total)
    sli = {"errorRatio": {"errors": 'k_by_requests_total{decision="error"}', "total": "k_by_requests_total"}}
    s.objective("by-errors", sli, ERROR_BOUNDS, by=["implementation"])

    # minEvents per group: python has too little traffic to judge.
    for impl, per_step in {"rust": {0.001: 100}, "python": {0.001: 1}}.items():
        points = histogram_points(s.window, per_step)
        s.om.histogram("k_by_ratio_seconds", {"job": JOB, "implementation": impl}, points)
        events = dict(bucket_increases(points, s.window))[INF]
        s.expect("by-guard", "pass" if impl == "rust" else "no_data", 1.0, group=f"implementation={impl}",
                 events=events)
    s.objective("by-guard", {"latencyRatio": {"metric": "k_by_ratio_seconds", "threshold": 0.005}}, RATIO_BOUNDS,
                by=["implementation"])


def add_weird_selector_series(s: Scenario) -> None:
    s.om.counter("k_weird_total", {"job": WEIRD_JOB}, counter_points(s.window, 150_000))
    for i, decoy in enumerate(WEIRD_DECOYS):
        s.om.counter("k_weird_total", {"job": decoy}, counter_points(s.window, 7_000 * (i + 1)))


@functools.cache
def scenario() -> Scenario:
    s = Scenario(Window.hours_ago(4))
    for add in (add_latency, add_latency_ratio, add_error_ratio, add_throughput, add_memory_growth, add_promql,
                add_promql_ratio, add_grouping, add_weird_selector_series):
        add(s)
    return s


# ---- fixtures -------------------------------------------------------------------------------------


@dataclass
class Checked:
    result: CliResult
    report: dict[str, Any]


def run_check(prom: PrometheusServer, spec: dict[str, Any], tmp: Path, *extra: str,
              window: Window | None = None) -> Checked:
    window = window or scenario().window
    tmp.mkdir(parents=True, exist_ok=True)
    spec_file = tmp / "slo.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp / "out"
    result = run_sloguard("check", "-f", str(spec_file), "--prometheus", prom.url, "--start", str(window.start),
                          "--end", str(window.end), "--format", "json", "--output-dir", str(out), *extra)
    report_file = out / "sloguard-report.json"
    assert report_file.exists(), result.describe()
    return Checked(result, json.loads(report_file.read_text()))


def entry(report: dict[str, Any], name: str, group: str = "") -> dict[str, Any]:
    found = [o for o in report["objectives"] if o["name"] == name and o["group"] == group]
    assert len(found) == 1, (name, group, [(o["name"], o["group"]) for o in report["objectives"]])
    return found[0]


@pytest.fixture(scope="module")
def prom(backfill_prometheus) -> PrometheusServer:
    return backfill_prometheus(scenario().om.text())


@pytest.fixture(scope="module")
def kinds_check(prom: PrometheusServer, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    return run_check(prom, spec_document(scenario().objectives), tmp_path_factory.mktemp("kinds"))


# ---- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "group"), sorted(scenario().expected), ids=lambda v: v or "-")
def test_objective_value_and_status(kinds_check: Checked, name: str, group: str) -> None:
    expected = scenario().expected[(name, group)]
    got = entry(kinds_check.report, name, group)
    assert got["status"] == expected.status, got
    if expected.value is not None:
        assert got["value"] == pytest.approx(expected.value, rel=1e-9, abs=1e-12), got
    if expected.events is not None and got.get("events") is not None:
        assert got["events"] == pytest.approx(expected.events), got


def test_report_has_exactly_the_expected_verdicts(kinds_check: Checked) -> None:
    report = kinds_check.report
    assert report["apiVersion"] == "sloguard/v1" and report["kind"] == "CheckReport"
    got = sorted((o["name"], o["group"]) for o in report["objectives"])
    assert got == sorted(scenario().expected)


def test_failures_and_no_data_fail_the_check(kinds_check: Checked) -> None:
    assert kinds_check.result.returncode == 1, kinds_check.result.describe()
    assert kinds_check.report["verdict"] == "fail"
    assert "Traceback" not in kinds_check.result.stderr


def test_every_kind_has_every_outcome(kinds_check: Checked) -> None:
    """The test data covers pass, warn, fail and no_data for each of the seven SLI kinds."""
    seen: dict[str, set[str]] = {}
    for o in kinds_check.report["objectives"]:
        seen.setdefault(o["sli"], set()).add(o["status"])
    assert set(seen) == {"latency", "latencyratio", "errorratio", "throughput", "memorygrowth", "promql",
                         "promqlratio"}
    for kind, statuses in seen.items():
        assert statuses >= {"pass", "warn", "fail", "no_data"}, kind


def test_window_is_the_requested_one(kinds_check: Checked) -> None:
    window = kinds_check.report["window"]
    assert window["startUnix"] == scenario().window.start and window["endUnix"] == scenario().window.end


def test_quoted_backslashed_selector_value_matches_exactly(prom: PrometheusServer, tmp_path: Path) -> None:
    s = scenario()
    spec = spec_document([{"name": "weird", "sli": {"throughput": {"metric": "k_weird_total"}},
                           "objective": {"min": 1}}], selector={"job": WEIRD_JOB})
    checked = run_check(prom, spec, tmp_path)
    assert checked.result.returncode == 0, checked.result.describe()
    got = entry(checked.report, "weird")
    expected = window_increase(counter_points(s.window, 150_000), s.window) / s.window.seconds
    assert got["status"] == "pass"
    assert got["value"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("policy", "code", "verdict"), [("fail", 1, "fail"), ("warn", 0, "warn"), ("pass", 0, "pass")])
def test_no_data_policy_decides_the_exit_code(prom: PrometheusServer, tmp_path: Path, policy: str, code: int,
                                              verdict: str) -> None:
    spec = spec_document([{"name": "nothing", "sli": {"throughput": {"metric": "k_tp_absent_total"}},
                           "objective": {"min": 1}}], no_data=policy)
    checked = run_check(prom, spec, tmp_path)
    assert checked.result.returncode == code, checked.result.describe()
    assert entry(checked.report, "nothing")["status"] == "no_data"
    assert checked.report["verdict"] == verdict


def test_passing_spec_exits_0(prom: PrometheusServer, tmp_path: Path) -> None:
    passing = [o for o in scenario().objectives if o["name"].endswith(("-pass", "-zero"))]
    assert len(passing) == 8
    checked = run_check(prom, spec_document(passing), tmp_path)
    assert checked.result.returncode == 0, checked.result.describe()
    assert checked.report["verdict"] == "pass"
    assert checked.report["score"] == pytest.approx(100.0)
    assert checked.result.stderr.strip() == ""


def test_warnings_still_exit_0(prom: PrometheusServer, tmp_path: Path) -> None:
    warning = [o for o in scenario().objectives if o["name"].endswith("-warn")]
    checked = run_check(prom, spec_document(warning), tmp_path)
    assert checked.result.returncode == 0, checked.result.describe()
    assert checked.report["verdict"] == "warn"
    assert checked.report["score"] == pytest.approx(50.0)  # every objective scores 0.5


def test_one_failing_objective_exits_1(prom: PrometheusServer, tmp_path: Path) -> None:
    chosen = [o for o in scenario().objectives if o["name"] in ("latency-pass", "errors-fail")]
    checked = run_check(prom, spec_document(chosen), tmp_path)
    assert checked.result.returncode == 1, checked.result.describe()
    assert checked.report["verdict"] == "fail"
    assert entry(checked.report, "errors-fail")["status"] == "fail"


def test_a_different_window_gives_different_values(prom: PrometheusServer, tmp_path: Path) -> None:
    """Guards the window semantics: half the window reaches into data generated at another rate."""
    s = scenario()
    shifted = Window(s.window.start + 1800, s.window.end + 1800, s.window.step, s.window.pad)
    chosen = [o for o in s.objectives if o["name"] == "throughput-pass"]
    checked = run_check(prom, spec_document(chosen), tmp_path, window=shifted)
    points = [counter_points(s.window, inc) for inc in (120_000, 60_000)]
    expected = sum(window_increase(p, shifted) for p in points) / shifted.seconds
    assert entry(checked.report, "throughput-pass")["value"] == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(s.expected[("throughput-pass", "")].value)
