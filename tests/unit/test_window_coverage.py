"""The check window: one that ends in the future is refused; how much of it the data covers, as increase() reads it."""

from __future__ import annotations

import promql_parser
import pytest

from sloguard import promql
from sloguard.durations import Window
from sloguard.errors import UsageError
from sloguard.evaluate import evaluate
from sloguard.prometheus import Sample
from sloguard.report import markdown
from sloguard.spec.model import (
    Bound,
    LatencySLI,
    MetricSelector,
    NoData,
    Objective,
    PromQLSLI,
    SLOSet,
    ThroughputSLI,
)
from sloguard.window_coverage import (
    EXTRAPOLATION_THRESHOLD,
    coverage_of,
    coverage_warnings,
    measure_coverage,
    require_past,
    subquery_step,
)

HOUR = Window(0.0, 3600.0)


def test_a_window_ending_in_the_future_is_refused_in_one_line() -> None:
    with pytest.raises(UsageError) as caught:
        require_past(Window(1_000.0, 2_000.0), now=1_500.0)
    message = str(caught.value)
    assert "in the future" in message and "8.3 min" in message and "\n" not in message
    assert caught.value.exit_code == 2


def test_a_window_ending_now_or_earlier_is_fine() -> None:
    require_past(Window(1_000.0, 2_000.0), now=2_000.0)
    require_past(Window(1_000.0, 2_000.0), now=9_000.0)


def test_far_futures_are_told_in_years() -> None:
    with pytest.raises(UsageError, match=r"3\.2 years in the future"):
        require_past(Window(0.0, 1e8), now=0.0)


def test_samples_through_the_whole_window_cover_it() -> None:
    coverage = coverage_of(HOUR, first=-30.0, last=3600.0, samples=60, series="m")
    assert coverage.fraction == 1.0 and coverage.note == ""
    assert coverage.first == 0.0 and coverage.interval == pytest.approx(3600 / 59)


def test_an_edge_gap_within_the_extrapolation_threshold_is_covered() -> None:
    # First sample 66 s in, one every 60 s: Prometheus extrapolates to the start (66 <= 1.1 * 60).
    samples = int((3600 - 66) / 60) + 1
    interval = (3600 - 66) / (samples - 1)
    assert EXTRAPOLATION_THRESHOLD * interval >= 66
    assert coverage_of(HOUR, first=66.0, last=3600.0, samples=samples, series="m").fraction == 1.0


def test_a_late_first_sample_leaves_the_gap_less_half_an_interval_uncovered() -> None:
    # First sample 15 min in, then every 60 s: increase() extrapolates 30 s back and no further.
    coverage = coverage_of(HOUR, first=900.0, last=3600.0, samples=46, series="m{job=\"a\"}")
    assert coverage.interval == pytest.approx(60.0)
    assert coverage.fraction == pytest.approx(1 - (900 - 30) / 3600)
    assert coverage.note == ("data covers 75.8 % of the window: its first sample is 15.0 min after the start "
                             "(1970-01-01T00:15:00.000Z)")
    assert coverage.to_document() == {
        "fraction": 0.7583, "firstSample": "1970-01-01T00:15:00.000Z", "lastSample": "1970-01-01T01:00:00.000Z",
        "sampleSeconds": 60.0, "series": 'm{job="a"}', "note": coverage.note,
    }


def test_the_demo_s_late_first_scrape() -> None:
    # The case: a 20 s window whose first scrape (every 5 s) came 6.7 s in.
    window = Window(100.0, 120.0)
    coverage = coverage_of(window, first=106.7, last=116.7, samples=3, series="m")
    assert coverage.fraction == pytest.approx(1 - (6.7 - 2.5) / 20)
    assert "first sample is 6.7 s after the start" in coverage.note


def test_a_last_sample_long_before_the_end_is_reported() -> None:
    coverage = coverage_of(HOUR, first=0.0, last=2400.0, samples=41, series="m")
    assert coverage.fraction == pytest.approx(1 - (1200 - 30) / 3600)
    assert "its last sample is 20.0 min before the end (1970-01-01T00:40:00.000Z)" in coverage.note


def test_both_edges_short() -> None:
    coverage = coverage_of(HOUR, first=600.0, last=3000.0, samples=41, series="m")
    assert coverage.fraction == pytest.approx(1 - 2 * (600 - 30) / 3600)
    assert "first sample is 10.0 min after the start" in coverage.note
    assert "and its last sample is 10.0 min before the end" in coverage.note


def test_one_sample_covers_nothing_around_it() -> None:
    coverage = coverage_of(HOUR, first=1800.0, last=1800.0, samples=1, series="m")
    assert coverage.fraction == 0.0 and coverage.interval is None


def test_the_subquery_step_resolves_a_thousandth_of_the_window() -> None:
    assert subquery_step(HOUR) == 3.6
    assert subquery_step(Window(0.0, 0.5)) == 0.001
    # A gap no longer than the measurement's own resolution is not reported.
    assert coverage_of(HOUR, first=3.6, last=3600.0, samples=3600, series="m", step=3.6).fraction == 1.0


def test_coverage_queries_read_sample_times_not_evaluation_times() -> None:
    assert promql.first_sample_time('m{job="a"}', ("implementation",), 600, 0.6) == (
        'min by (implementation) (min_over_time(timestamp(m{job="a"})[600s:600ms]))')
    assert promql.last_sample_time("m", (), 600, 1) == "max(max_over_time(timestamp(m)[600s:1s]))"
    assert promql.sample_count("m", ("a",), 600) == "max by (a) (count_over_time(m[600s]))"
    for query in (promql.first_sample_time("m", (), 0.5, 0.001), promql.last_successful_scrape('a"b')):
        promql_parser.parse(query)  # raises on anything Prometheus would not parse


# ---- measure_coverage on a scripted backend ---------------------------------------------------------

THROUGHPUT = Objective(name="rps", sli=ThroughputSLI(MetricSelector("requests_total")), objective=Bound(min=1),
                       by=("implementation",))
LATENCY = Objective(name="p95", sli=LatencySLI(MetricSelector("lat_seconds"), 0.95), objective=Bound(max=1))
RAW = Objective(name="raw", sli=PromQLSLI("vector(1)"), objective=Bound(max=2))
SLO = SLOSet(name="s", service="svc", objectives=(THROUGHPUT, LATENCY, RAW), no_data=NoData.FAIL, min_events=1)


def scripted(window: Window, asked: list[tuple[str, float]], late: bool = True):
    """A backend where rust's requests run through the window, python's start 15 min late, latency has no data."""
    firsts = {"rust": window.start - 30, **({"python": window.start + 900} if late else {})}
    counts = {"rust": 60.0, "python": 46.0} if late else {"rust": 60.0}

    def per_group(values: dict[str, float]) -> list[Sample]:
        return [Sample({"implementation": k}, v) for k, v in values.items()]

    def query(text: str, at: float) -> list[Sample]:
        asked.append((text, at))
        if "requests_total" in text:
            if text.startswith("max by (implementation) (timestamp("):  # the latest sample at `at`
                return per_group({k: at for k, first in firsts.items() if first <= at})
            if text.startswith("min by (implementation) (min_over_time"):
                return per_group(firsts)
            if text.startswith("max by (implementation) (max_over_time"):
                return per_group({k: window.end for k in firsts})
            if "count_over_time" in text:
                return per_group(counts)
            assert at == window.end
            return per_group({k: 500.0 for k in firsts})  # value and events
        if text == "vector(1)":
            return [Sample({}, 1.0)]
        return []

    return query


def test_each_group_gets_its_own_coverage_and_a_short_one_a_note_in_its_reason() -> None:
    window = Window(1_800_000_000.0, 1_800_003_600.0)
    asked: list[tuple[str, float]] = []
    query = scripted(window, asked)
    result = measure_coverage(evaluate(SLO, window, query), query)
    by_name = {(v.objective.name, v.group): v for v in result.verdicts}
    rust, python = by_name[("rps", "implementation=rust")], by_name[("rps", "implementation=python")]
    assert rust.coverage is not None and rust.coverage.fraction == 1.0 and rust.reason == ""
    assert python.coverage is not None and python.coverage.fraction == pytest.approx(1 - 870 / 3600)
    assert python.status.value == "pass"  # reported, not judged
    assert python.reason.startswith("data covers 75.8 % of the window: its first sample is 15.0 min after the start")
    latency = by_name[("p95", "")]
    assert latency.status.value == "no_data" and latency.coverage is not None and latency.coverage.fraction == 0
    assert latency.reason == "the query returned no value; no sample of lat_seconds_count in the window"
    assert by_name[("raw", "")].coverage is None  # raw PromQL names no series of its own
    assert result.extra["coverage"] == {"fraction": 0.0, "measured": 3, "short": 2}
    assert coverage_warnings(result) == [
        f"warning: rps [implementation=python]: {python.coverage.note} (series requests_total)",
        "warning: p95: no sample of lat_seconds_count in the window",
    ]
    summary = markdown.render(result)
    assert "\n> ⚠️ rps [implementation=python]: data covers 75.8 % of the window: its first sample is" in summary
    # Python has no sample near the start: its series needs the subqueries; latency has no sample to look for.
    subqueries = sorted(text for text, _ in asked if "_over_time(timestamp(" in text)
    assert len(subqueries) == 2 and all("requests_total" in q for q in subqueries), subqueries


def test_series_sampled_at_both_edges_need_no_subquery() -> None:
    window = Window(1_800_000_000.0, 1_800_003_600.0)
    asked: list[tuple[str, float]] = []
    query = scripted(window, asked, late=False)
    only_throughput = SLOSet(name="s", service="svc", objectives=(THROUGHPUT,), no_data=NoData.FAIL, min_events=1)
    result = measure_coverage(evaluate(only_throughput, window, query), query)
    assert [v.coverage.fraction for v in result.verdicts if v.coverage] == [1.0]
    assert not [text for text, _ in asked if "_over_time(timestamp(" in text]
