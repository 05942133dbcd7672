"""Judging values against bounds, the traffic guard, noData and the Keptn-style score."""

from __future__ import annotations

import math

import pytest

from sloguard.evaluate import Status, Window, evaluate, judge_objective, score_verdicts
from sloguard.prometheus import Sample
from sloguard.promql import objective_queries
from sloguard.spec.model import (
    Bound,
    LatencySLI,
    MemoryGrowthSLI,
    MetricSelector,
    NoData,
    Objective,
    PromQLSLI,
    Scoring,
    SLOSet,
)

P95 = LatencySLI(MetricSelector("opa_evaluation_duration_seconds"), 0.95)
WARN_4MS = Bound(max=0.004)


def objective(name="p95", key=False, weight=1.0, warning=WARN_4MS, by=("implementation",), sli=P95):
    return Objective(name=name, sli=sli, objective=Bound(max=0.005), warning=warning, by=by, key=key, weight=weight)


def slo(*objectives, no_data=NoData.FAIL, min_events=100, scoring=None):
    return SLOSet(
        name="s", service="sark", objectives=objectives, no_data=no_data, min_events=min_events, scoring=scoring
    )


def judge(obj, values, events, **kw):
    s = slo(obj, **kw)
    return judge_objective(s, obj, objective_queries(s, obj, 600), values, events)


def impl(name, value):
    return Sample({"implementation": name}, value)


def test_one_verdict_per_group_with_pass_warn_fail():
    verdicts = judge(
        objective(),
        [impl("rust", 0.001), impl("python", 0.0045), impl("go", 0.006)],
        [impl("rust", 500), impl("python", 500), impl("go", 500)],
    )
    assert [(v.group, v.status) for v in verdicts] == [
        ("implementation=go", Status.FAIL),
        ("implementation=python", Status.WARN),
        ("implementation=rust", Status.PASS),
    ]


def test_bounds_are_inclusive():
    [v] = judge(objective(warning=None), [impl("rust", 0.005)], [impl("rust", 100)])
    assert v.status is Status.PASS


def test_too_few_events_is_no_data_even_with_a_good_value():
    [v] = judge(objective(), [impl("rust", 0.001)], [impl("rust", 99)])
    assert v.status is Status.NO_DATA and v.counts_as is Status.FAIL
    assert "99 events" in v.reason


def test_a_group_with_traffic_but_no_value_is_no_data():
    verdicts = judge(objective(), [impl("rust", 0.001)], [impl("rust", 500), impl("python", 500)])
    assert {v.group: v.status for v in verdicts}["implementation=python"] is Status.NO_DATA


def test_nan_is_no_data():
    [v] = judge(objective(), [impl("rust", math.nan)], [impl("rust", 500)])
    assert v.status is Status.NO_DATA and v.value is None


def test_an_empty_answer_is_a_single_no_data_verdict():
    [v] = judge(objective(), [], [])
    assert (v.group, v.status) == ("", Status.NO_DATA)


@pytest.mark.parametrize(
    ("policy", "counts"), [(NoData.FAIL, Status.FAIL), (NoData.WARN, Status.WARN), (NoData.PASS, Status.PASS)]
)
def test_no_data_counts_as_the_policy_says(policy, counts):
    [v] = judge(objective(), [], [], no_data=policy)
    assert v.counts_as is counts


def test_memory_growth_guard_counts_samples_not_requests():
    growth = objective(sli=MemoryGrowthSLI(MetricSelector("process_resident_memory_bytes"), 3600), by=(), warning=None)
    [enough] = judge(growth, [Sample({}, 0.0)], [Sample({}, 12)])
    [few] = judge(growth, [Sample({}, 0.0)], [Sample({}, 9)])
    assert (enough.status, few.status) == (Status.PASS, Status.NO_DATA)


def test_custom_promql_groups_by_every_label_and_has_no_traffic_guard():
    custom = objective(sli=PromQLSLI("x"), by=(), warning=None)
    [v] = judge(custom, [Sample({"__name__": "x", "b": "2", "a": "1"}, 0.001)], None)
    assert (v.group, v.status) == ("a=1,b=2", Status.PASS)


def _verdicts(*pairs):
    out = []
    for obj, value in pairs:
        out.extend(judge(obj, [impl("rust", value)], [impl("rust", 1000)]))
    return out


def test_score_weights_pass_one_and_warn_half():
    heavy, light = objective("a", weight=3), objective("b", weight=1)
    score, status = score_verdicts(slo(heavy, light), _verdicts((heavy, 0.001), (light, 0.0045)))
    assert score == pytest.approx(100 * (3 + 0.5) / 4)
    assert status is Status.WARN


def test_without_scoring_any_failure_fails():
    a, b = objective("a", weight=10), objective("b")
    _, status = score_verdicts(slo(a, b), _verdicts((a, 0.001), (b, 0.009)))
    assert status is Status.FAIL


def test_with_scoring_a_high_score_survives_a_non_key_failure_but_not_a_key_one():
    scoring = Scoring(pass_percent=90, warning_percent=75)
    a, b, k = objective("a", weight=10), objective("b"), objective("k", key=True, weight=10)
    score, status = score_verdicts(slo(a, b, scoring=scoring), _verdicts((a, 0.001), (b, 0.009)))
    assert score == pytest.approx(100 * 10 / 11) and status is Status.WARN
    _, status = score_verdicts(slo(a, k, scoring=scoring), _verdicts((a, 0.001), (k, 0.009)))
    assert status is Status.FAIL


def test_evaluate_sends_each_distinct_query_once_at_the_window_end():
    obj = objective()
    s = slo(obj, objective("other"))
    seen = []

    def query(text, at):
        seen.append((text, at))
        return [impl("rust", 0.001 if text.startswith("histogram_quantile") else 500)]

    result = evaluate(s, Window(1000, 1600), query)
    assert sorted(seen) == sorted(set(seen)) and {at for _, at in seen} == {1600}
    assert len(seen) == 3  # the two objectives share their value, events and bucket-count queries
    assert result.status is Status.PASS and result.score == 100
