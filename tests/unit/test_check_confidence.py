"""Confidence intervals in `sloguard check`: verdicts under decideOn estimate and confidence, the spec field, reports.

Every check here runs evaluate() against a fake query function that answers the exact queries
sloguard builds (value, events and bucket counts), so the queries and the judging are both real.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sloguard.errors import SpecError
from sloguard.evaluate import CheckResult, Status, Window, evaluate
from sloguard.intervals import bucket_quantile, quantile_interval
from sloguard.prometheus import Sample
from sloguard.promql import objective_queries
from sloguard.report import json_report, junit, markdown, table
from sloguard.report.performance import objective_interval, objective_table
from sloguard.spec.loader import load_spec_text
from sloguard.spec.model import (
    Bound,
    DecideOn,
    ErrorRatioSLI,
    LatencySLI,
    Matcher,
    MetricSelector,
    NoData,
    Objective,
    SLOSet,
    ThroughputSLI,
)

INF = math.inf
WINDOW = Window(1000, 1600)
P95 = LatencySLI(MetricSelector("h"), 0.95)
BOUND_500US = Bound(max=0.0005)

# p95 517 µs, 95 % CI 498-552 µs: over 500 µs, but within noise of it.
NOISY = [(0.00025, 1500.0), (0.0005, 2840.0), (0.00075, 2990.0), (0.001, 3000.0), (INF, 3000.0)]
# p95 479.6 µs, CI 479.0-480.2 µs: clearly under 500 µs.
CLEAR_PASS = [(0.00025, 15000.0), (0.0005, 29700.0), (0.00075, 29990.0), (0.001, 30000.0), (INF, 30000.0)]
# p95 991 µs, CI 988-995 µs: clearly over.
CLEAR_FAIL = [(0.0005, 1000.0), (0.00075, 1500.0), (0.001, 2900.0), (0.0025, 3000.0), (INF, 3000.0)]


def test_the_example_histograms_say_what_the_tests_claim() -> None:
    noisy, passing, failing = (quantile_interval(0.95, h) for h in (NOISY, CLEAR_PASS, CLEAR_FAIL))
    assert noisy is not None and noisy.low < 0.0005 < bucket_quantile(0.95, NOISY) < noisy.high
    assert passing is not None and passing.high < 0.0005
    assert failing is not None and failing.low > 0.0005


def latency_objective(*, warning: Bound | None = None, decide_on: DecideOn | None = None, no_data: NoData | None = None,
                      name: str = "p95") -> Objective:
    return Objective(name=name, sli=P95, objective=BOUND_500US, warning=warning, by=("implementation",),
                     decide_on=decide_on, no_data=no_data)


def slo(*objectives: Objective, decide_on: DecideOn = DecideOn.ESTIMATE, no_data: NoData = NoData.FAIL) -> SLOSet:
    return SLOSet(name="s", service="sark", objectives=objectives, decide_on=decide_on, no_data=no_data)


def fake_prometheus(slo_set: SLOSet, histograms: dict[str, Sequence[tuple[float, float]]], *,
                    with_buckets: bool = True):
    """Answers each latency objective's value, events and bucket queries from per-implementation bucket counts."""
    answers: dict[str, list[Sample]] = {}
    for objective in slo_set.objectives:
        queries = objective_queries(slo_set, objective, WINDOW.seconds)
        assert isinstance(objective.sli, LatencySLI) and queries.buckets is not None and queries.events is not None
        answers[queries.value] = [Sample({"implementation": impl}, bucket_quantile(objective.sli.quantile, h))
                                  for impl, h in histograms.items()]
        answers[queries.events] = [Sample({"implementation": impl}, h[-1][1]) for impl, h in histograms.items()]
        answers[queries.buckets] = [
            Sample({"implementation": impl, "le": "+Inf" if le == INF else repr(le)}, count)
            for impl, h in histograms.items() for le, count in h
        ] if with_buckets else []

    def query(text: str, at: float) -> list[Sample]:
        assert at == WINDOW.end
        return answers[text]

    return query


def check(slo_set: SLOSet, histograms: dict[str, Sequence[tuple[float, float]]], **kw: Any) -> CheckResult:
    return evaluate(slo_set, WINDOW, fake_prometheus(slo_set, histograms, **kw))


# ---- verdicts -------------------------------------------------------------------------------------


def test_the_bucket_counts_are_read_with_the_value_querys_selector() -> None:
    obj = Objective(name="p95", sli=LatencySLI(MetricSelector("h", (Matcher("path", "=", "a"),)), 0.95),
                    objective=BOUND_500US, by=("implementation",))
    s = SLOSet(name="s", service="sark", objectives=(obj,), selector=(Matcher("job", "=", "sark"),))
    queries = objective_queries(s, obj, 600)
    inner = 'sum by (le, implementation) (increase(h_bucket{job="sark",path="a"}[600s]))'
    assert queries.buckets == inner and queries.value == f"histogram_quantile(0.95, {inner})"


def test_estimate_keeps_todays_status_and_says_within_noise() -> None:
    [v] = check(slo(latency_objective()), {"python": NOISY}).verdicts
    assert v.status is Status.FAIL and v.counts_as is Status.FAIL  # decided on the value, as before
    assert v.within_noise and v.decided_on is DecideOn.ESTIMATE
    assert v.interval is not None and v.interval.low < 0.0005 < v.interval.high
    assert v.reason == "outside the objective; within noise: the 95 % CI straddles a bound"


def test_estimate_without_noise_says_nothing_more() -> None:
    result = check(slo(latency_objective()), {"rust": CLEAR_PASS, "python": CLEAR_FAIL})
    by_group = {v.group: v for v in result.verdicts}
    assert by_group["implementation=rust"].status is Status.PASS and not by_group["implementation=rust"].within_noise
    assert by_group["implementation=python"].reason == "outside the objective"


@pytest.mark.parametrize(("no_data", "counts_as", "overall"), [(NoData.FAIL, Status.FAIL, Status.FAIL),
                                                                (NoData.WARN, Status.WARN, Status.WARN),
                                                                (NoData.PASS, Status.PASS, Status.PASS)])
def test_confidence_calls_a_straddling_interval_inconclusive_counted_like_no_data(
        no_data: NoData, counts_as: Status, overall: Status) -> None:
    result = check(slo(latency_objective(), decide_on=DecideOn.CONFIDENCE, no_data=no_data), {"python": NOISY})
    [v] = result.verdicts
    assert v.status is Status.INCONCLUSIVE and v.counts_as is counts_as and result.status is overall
    assert v.reason == "the 95 % CI straddles the objective" and v.within_noise


def test_confidence_passes_and_fails_only_when_the_whole_interval_does() -> None:
    result = check(slo(latency_objective(), decide_on=DecideOn.CONFIDENCE), {"rust": CLEAR_PASS, "python": CLEAR_FAIL})
    by_group = {v.group: v for v in result.verdicts}
    assert by_group["implementation=rust"].status is Status.PASS
    assert by_group["implementation=python"].status is Status.FAIL
    assert by_group["implementation=python"].reason == "the whole 95 % CI is outside the objective"


def test_confidence_warns_when_the_interval_reaches_past_the_warning_bound() -> None:
    # CLEAR_PASS's CI (479.0-480.2 µs) holds 479.8 µs: a pass or a warning, never a failure.
    obj = latency_objective(warning=Bound(max=0.0004798), decide_on=DecideOn.CONFIDENCE)
    [v] = check(slo(obj), {"rust": CLEAR_PASS}).verdicts
    assert v.status is Status.WARN and v.within_noise
    assert v.reason == "the 95 % CI reaches past the warning bound"
    [estimate] = check(slo(latency_objective(warning=Bound(max=0.0004798))), {"rust": CLEAR_PASS}).verdicts
    assert estimate.status is Status.PASS and estimate.within_noise  # 479.6 µs is under the warning bound


def test_the_objective_overrides_the_spec_wide_decide_on() -> None:
    s = slo(latency_objective(decide_on=DecideOn.ESTIMATE, name="a"), latency_objective(name="b"),
            decide_on=DecideOn.CONFIDENCE)
    statuses = {v.objective.name: v.status for v in check(s, {"python": NOISY}).verdicts}
    assert statuses == {"a": Status.FAIL, "b": Status.INCONCLUSIVE}


def test_no_bucket_counts_no_interval_and_confidence_cannot_pass() -> None:
    [estimate] = check(slo(latency_objective()), {"rust": CLEAR_PASS}, with_buckets=False).verdicts
    assert estimate.status is Status.PASS and estimate.interval is None and not estimate.within_noise
    s = slo(latency_objective(decide_on=DecideOn.CONFIDENCE))
    [confident] = check(s, {"rust": CLEAR_PASS}, with_buckets=False).verdicts
    assert confident.status is Status.INCONCLUSIVE and confident.counts_as is Status.FAIL
    assert confident.reason.startswith("no confidence interval")


def test_too_few_events_is_still_no_data_under_confidence() -> None:
    few = [(le, count / 100) for le, count in CLEAR_PASS]  # 300 events
    s = SLOSet(name="s", service="sark", objectives=(latency_objective(),), decide_on=DecideOn.CONFIDENCE,
               min_events=1000)
    [v] = check(s, {"rust": few}).verdicts
    assert v.status is Status.NO_DATA and not v.within_noise


def _error_ratio_check(errors: float, total: float, decide_on: DecideOn) -> Any:
    obj = Objective(name="errors", sli=ErrorRatioSLI(MetricSelector("r_total"), MetricSelector("r_total")),
                    objective=Bound(max=0.01))
    s = SLOSet(name="s", service="sark", objectives=(obj,), decide_on=decide_on)
    queries = objective_queries(s, obj, WINDOW.seconds)
    answers = {queries.value: [Sample({}, errors / total)], queries.events: [Sample({}, total)]}
    [v] = evaluate(s, WINDOW, lambda text, at: answers[text]).verdicts
    return v


def test_a_ratio_carries_wilsons_interval_from_its_events() -> None:
    v = _error_ratio_check(10, 1000, DecideOn.ESTIMATE)
    assert v.status is Status.PASS and v.within_noise  # 1.0 % against <= 1 %
    assert v.interval is not None and v.interval.method == "wilson"
    assert (v.interval.low, v.interval.high) == pytest.approx((0.005441, 0.018309), abs=1e-6)  # scipy binomtest wilson
    assert _error_ratio_check(10, 1000, DecideOn.CONFIDENCE).status is Status.INCONCLUSIVE
    assert _error_ratio_check(10, 100_000, DecideOn.CONFIDENCE).status is Status.PASS
    assert _error_ratio_check(0, 1000, DecideOn.CONFIDENCE).status is Status.PASS  # CI 0-0.38 %


def test_kinds_without_an_interval_are_judged_on_their_value_under_confidence() -> None:
    obj = Objective(name="tp", sli=ThroughputSLI(MetricSelector("r_total")), objective=Bound(min=1))
    s = SLOSet(name="s", service="sark", objectives=(obj,), decide_on=DecideOn.CONFIDENCE)
    queries = objective_queries(s, obj, WINDOW.seconds)
    answers = {queries.value: [Sample({}, 5.0)], queries.events: [Sample({}, 3000.0)]}
    [v] = evaluate(s, WINDOW, lambda text, at: answers[text]).verdicts
    assert v.status is Status.PASS and v.interval is None and v.decided_on is DecideOn.ESTIMATE


# ---- the spec ----------------------------------------------------------------------------------------

SPEC = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: sark
  decideOn: confidence
  objectives:
    - name: a
      sli: {latency: {metric: h, quantile: 0.95}}
      objective: {max: 0.0005}
    - name: b
      sli: {latency: {metric: h, quantile: 0.95}}
      objective: {max: 0.0005}
      decideOn: estimate
"""


def test_decide_on_is_read_spec_wide_and_per_objective() -> None:
    s = load_spec_text(SPEC)
    assert s.decide_on is DecideOn.CONFIDENCE
    assert [s.decide_on_for(o) for o in s.objectives] == [DecideOn.CONFIDENCE, DecideOn.ESTIMATE]
    plain = load_spec_text(SPEC.replace("  decideOn: confidence\n", "").replace("      decideOn: estimate\n", ""))
    assert plain.decide_on is DecideOn.ESTIMATE and plain.objectives[0].decide_on is None


def test_decide_on_takes_estimate_or_confidence() -> None:
    with pytest.raises(SpecError, match=r"<string>:6: decideOn: must be one of 'estimate' or 'confidence'"):
        load_spec_text(SPEC.replace("  decideOn: confidence\n", "  decideOn: sure\n"))


def test_an_objective_without_an_interval_cannot_decide_on_confidence() -> None:
    throughput = SPEC.replace("      sli: {latency: {metric: h, quantile: 0.95}}\n      objective: {max: 0.0005}\n"
                              "      decideOn: estimate\n",
                              "      sli: {throughput: {metric: r_total}}\n      objective: {min: 1}\n"
                              "      decideOn: confidence\n")
    with pytest.raises(SpecError, match=r"objectives\[1\]\.decideOn: throughput values carry no confidence interval"):
        load_spec_text(throughput)
    load_spec_text(throughput.replace("      decideOn: confidence\n", ""))  # spec-wide it applies where it can


# ---- reports -----------------------------------------------------------------------------------------


@pytest.fixture
def noisy_result() -> CheckResult:
    s = slo(latency_objective(name="cache-p95"), latency_objective(name="strict", decide_on=DecideOn.CONFIDENCE))
    return check(s, {"python": NOISY, "rust": CLEAR_PASS})


def test_the_table_shows_the_interval_and_within_noise(noisy_result: CheckResult) -> None:
    console = Console(record=True, width=250, force_terminal=False)
    table.render(noisy_result, console)
    text = console.export_text()
    assert "95 % CI" in text
    assert "fail, within noise: 95 % CI 498–552 µs" in text
    assert "inconclusive, within noise: 95 % CI 498–552 µs" in text
    assert "479–480 µs" in text  # the rust group's interval, told apart by its digits


def test_the_json_report_carries_interval_noise_and_decide_on(noisy_result: CheckResult) -> None:
    doc = json.loads(json.dumps(json_report.to_document(noisy_result, exit_code=1, prometheus="http://p")))
    entry = {(o["name"], o["group"]): o for o in doc["objectives"]}
    noisy = entry[("cache-p95", "implementation=python")]
    assert noisy["status"] == "fail" and noisy["withinNoise"] is True and noisy["decideOn"] == "estimate"
    assert set(noisy["interval"]) == {"low", "high", "level", "method"}
    assert noisy["interval"]["level"] == 0.95 and noisy["interval"]["method"] == "histogram ranks"
    assert noisy["interval"]["low"] == pytest.approx(0.00049769, rel=1e-4)
    assert noisy["bucketsQuery"] == "sum by (le, implementation) (increase(h_bucket[600s]))"
    strict = entry[("strict", "implementation=python")]
    assert strict["status"] == "inconclusive" and strict["countsAs"] == "fail" and strict["decideOn"] == "confidence"
    assert entry[("strict", "implementation=rust")]["withinNoise"] is False


def test_an_unbounded_end_is_null_in_json() -> None:
    sparse = [(0.0025, 2940.0), (0.005, 3000.0), (INF, 3000.0)]
    obj = Objective(name="p999", sli=LatencySLI(MetricSelector("h"), 0.999), objective=Bound(max=0.01),
                    by=("implementation",))
    doc = json_report.to_document(check(slo(obj), {"rust": sparse}), exit_code=0, prometheus="")
    assert doc["objectives"][0]["interval"]["high"] is None
    json.dumps(doc, allow_nan=False)  # valid JSON: no Infinity


def test_junit_counts_inconclusive_as_its_no_data_policy_says(noisy_result: CheckResult) -> None:
    root = ET.fromstring(junit.render(noisy_result).split("\n", 1)[1])
    cases = {c.get("name"): c for c in root.iter("testcase")}
    strict = cases["strict[implementation=python]"]
    failure = strict.find("failure")
    assert failure is not None and failure.get("message") == "inconclusive" and failure.get("type") == "inconclusive"
    assert "95 % CI 498–552 µs" in (failure.text or "")
    noisy = cases["cache-p95[implementation=python]"].find("failure")
    assert noisy is not None and "fail, within noise: 95 % CI 498–552 µs" in (noisy.text or "")
    lenient = slo(latency_objective(name="strict", decide_on=DecideOn.CONFIDENCE), no_data=NoData.WARN)
    root = ET.fromstring(junit.render(check(lenient, {"python": NOISY})).split("\n", 1)[1])
    skipped = next(root.iter("testcase")).find("skipped")
    assert skipped is not None and skipped.get("message") == "inconclusive"


def test_markdown_has_the_interval_column(noisy_result: CheckResult) -> None:
    text = markdown.render(noisy_result)
    assert "| Objective | Group | Value | 95 % CI | Objective | Warning | Status |" in text
    row = next(line for line in text.splitlines() if line.startswith("| cache-p95 | implementation=python"))
    assert "| 498–552 µs |" in row and "fail, within noise: 95 % CI 498–552 µs" in row


def test_the_performance_report_shows_the_interval(noisy_result: CheckResult) -> None:
    doc = json_report.to_document(noisy_result, exit_code=1, prometheus="")
    noisy = next(o for o in doc["objectives"] if o["name"] == "cache-p95" and o["group"] == "implementation=python")
    assert objective_interval(noisy) == "0.498 ms – 0.552 ms"
    assert objective_interval({**noisy, "interval": {**noisy["interval"], "high": None}}) == "0.498 ms – ∞"
    table = objective_table([(Path("r.json"), noisy)], multi=False)
    assert table.headers[3] == "95 % CI" and table.rows[0][-1] == "fail, within noise"
