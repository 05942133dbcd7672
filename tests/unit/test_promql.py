"""Query building: window semantics, grouping and label escaping."""

from __future__ import annotations

import pytest

from sloguard import promql
from sloguard.spec.model import (
    Bound,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    Matcher,
    MemoryGrowthSLI,
    MetricSelector,
    Objective,
    PromQLSLI,
    SLOSet,
    ThroughputSLI,
)

JOB = (Matcher("job", "=", "sark"),)


def queries(sli, by=(), selector=JOB, seconds=600.0):
    obj = Objective(name="o", sli=sli, objective=Bound(max=1), by=by)
    slo = SLOSet(name="s", service="sark", objectives=(obj,), selector=selector)
    return promql.objective_queries(slo, obj, seconds)


def test_latency_is_histogram_quantile_over_the_window_grouped_by_le_and_by():
    q = queries(LatencySLI(MetricSelector("opa_evaluation_duration_seconds"), 0.95), by=("implementation",))
    assert q.value == (
        "histogram_quantile(0.95, sum by (le, implementation) "
        '(increase(opa_evaluation_duration_seconds_bucket{job="sark"}[600s])))'
    )
    assert q.events == 'sum by (implementation) (increase(opa_evaluation_duration_seconds_count{job="sark"}[600s]))'


def test_latency_ratio_reads_the_threshold_bucket_in_both_spellings_of_le():
    q = queries(LatencyRatioSLI(MetricSelector("d"), 0.005))
    assert q.value == 'sum(increase(d_bucket{job="sark",le="0.005"}[600s])) / sum(increase(d_count{job="sark"}[600s]))'
    whole = queries(LatencyRatioSLI(MetricSelector("d"), 1.0))
    assert 'le=~"1\\\\.0|1"' in whole.value


def test_error_ratio_counts_missing_error_series_as_zero():
    errors = MetricSelector("req_total", (Matcher("decision", "=", "error"),))
    q = queries(ErrorRatioSLI(errors, MetricSelector("req_total")), by=("implementation",))
    total = 'sum by (implementation) (increase(req_total{job="sark"}[600s]))'
    err = 'sum by (implementation) (increase(req_total{job="sark",decision="error"}[600s]))'
    assert q.value == f"({err} or (0 * {total})) / {total}"
    assert q.events == total


def test_throughput_divides_the_increase_by_the_window_seconds():
    q = queries(ThroughputSLI(MetricSelector("req_total")), seconds=90)
    assert q.value == 'sum(increase(req_total{job="sark"}[90s])) / 90'


def test_memory_growth_takes_the_worst_instance_scaled_to_the_period():
    q = queries(MemoryGrowthSLI(MetricSelector("process_resident_memory_bytes"), 3600), seconds=1800)
    assert q.value == 'max(deriv(process_resident_memory_bytes{job="sark"}[1800s])) * 3600'
    assert q.events == 'max(count_over_time(process_resident_memory_bytes{job="sark"}[1800s]))'


def test_custom_promql_gets_the_window_and_has_no_events_query():
    q = queries(PromQLSLI("sum(rate(x_total[{{window}}]))"), seconds=300)
    assert q == promql.ObjectiveQueries("sum(rate(x_total[300s]))", None)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("line\nbreak", "line\\nbreak"), ('\\"', '\\\\\\"')],
)
def test_label_values_are_escaped(raw, escaped):
    assert promql.escape_label_value(raw) == escaped
    assert promql.render_matchers([Matcher("job", "=", raw)]) == '{job="' + escaped + '"}'


def test_selector_and_sli_matchers_are_merged_without_duplicates():
    sel = MetricSelector("req_total", (Matcher("job", "=", "sark"), Matcher("decision", "!=", "error")))
    q = queries(ThroughputSLI(sel))
    assert 'req_total{job="sark",decision!="error"}' in q.value


def test_check_rules_and_panels_read_one_skeleton_per_kind():
    """The per-second variant is the check's query with rate() for increase() (throughput: no division)."""
    errors = MetricSelector("req_total", (Matcher("decision", "=", "error"),))
    for sli in (LatencySLI(MetricSelector("d"), 0.95), LatencyRatioSLI(MetricSelector("d"), 0.005),
                ErrorRatioSLI(errors, MetricSelector("req_total")), MemoryGrowthSLI(MetricSelector("rss"), 3600),
                PromQLSLI("sum(rate(x[{{window}}]))")):
        obj = Objective(name="o", sli=sli, objective=Bound(max=1), by=("implementation",))
        slo = SLOSet(name="s", service="sark", objectives=(obj,), selector=JOB)
        check = promql.objective_queries(slo, obj, 300).value
        assert promql.sli_value(slo, obj, "5m") == check.replace("increase(", "rate(").replace("[300s]", "[5m]")
    obj = Objective(name="o", sli=ThroughputSLI(MetricSelector("req_total")), objective=Bound(max=1))
    slo = SLOSet(name="s", service="sark", objectives=(obj,), selector=JOB)
    assert promql.sli_value(slo, obj, "5m") == 'sum(rate(req_total{job="sark"}[5m]))'


def test_ratio_slis_record_the_bad_share_and_others_have_none():
    obj = Objective(name="o", sli=LatencyRatioSLI(MetricSelector("d"), 0.005), objective=Bound(min=0.9))
    slo = SLOSet(name="s", service="sark", objectives=(obj,))
    good, total = 'sum(rate(d_bucket{le="0.005"}[5m]))', "sum(rate(d_count[5m]))"
    assert promql.sli_error_ratio(slo, obj, "5m") == f"({total} - {good}) / {total}"
    latency = Objective(name="p", sli=LatencySLI(MetricSelector("d"), 0.95), objective=Bound(max=1))
    with pytest.raises(TypeError, match="not a ratio SLI"):
        promql.sli_error_ratio(slo, latency, "5m")
    growth = Objective(name="g", sli=MemoryGrowthSLI(MetricSelector("rss"), 3600), objective=Bound(max=1))
    assert promql.sli_events_rate(slo, growth, "5m") is None  # samples of a gauge are not events


def test_an_absent_part_counts_as_zero_and_the_scrape_check_escapes_the_job():
    assert promql.ratio_absent_as_zero("e", "t") == "(e or (0 * t)) / t"
    assert promql.last_successful_scrape("sark") == 'timestamp(up{job="sark"}) and up{job="sark"} == 1'
    assert promql.last_successful_scrape('a"b') == 'timestamp(up{job="a\\"b"}) and up{job="a\\"b"} == 1'
