"""Spec + query results -> verdicts and a score.

A pipeline you can read top to bottom: build each objective's queries
(promql), run them at the window's end (prometheus), judge every group's value
against its bounds (judge_objective), then score the whole set (score_verdicts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

from sloguard.conventions import MIN_GROWTH_SAMPLES
from sloguard.durations import Window, WindowCoverage
from sloguard.intervals import Interval, quantile_interval, wilson
from sloguard.numbers import format_number
from sloguard.prometheus import Sample, bucket_counts
from sloguard.promql import ObjectiveQueries, objective_queries
from sloguard.spec.model import (
    Bound,
    DecideOn,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    MemoryGrowthSLI,
    NoData,
    Objective,
    PromQLRatioSLI,
    PromQLSLI,
    SLOSet,
)

# Queries in flight at once: a check of hundreds of objectives is bound by round
# trips, and Prometheus answers concurrent instant queries well.
QUERY_CONCURRENCY = 8


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"
    INCONCLUSIVE = "inconclusive"  # decideOn: confidence, and the interval straddles the objective


# Keptn-style points per status; no_data and inconclusive score as the noData policy says.
_POINTS = {Status.PASS: 1.0, Status.WARN: 0.5, Status.FAIL: 0.0}
_NO_DATA_AS = {NoData.PASS: Status.PASS, NoData.WARN: Status.WARN, NoData.FAIL: Status.FAIL}


@dataclass(frozen=True)
class Verdict:
    """One objective judged for one group (label values of its `by`)."""

    objective: Objective
    group: str
    group_labels: dict[str, str]
    value: float | None
    events: float | None
    status: Status
    counts_as: Status  # what the status scores as (no_data follows the noData policy)
    queries: ObjectiveQueries
    reason: str = ""
    coverage: WindowCoverage | None = None  # how much of the window its series' samples cover (window_coverage)
    interval: Interval | None = None  # the value's confidence interval, from the counts in the window
    within_noise: bool = False  # the interval straddles a bound: another window could judge otherwise
    decided_on: DecideOn = DecideOn.ESTIMATE


@dataclass(frozen=True)
class CheckResult:
    slo_set: SLOSet
    window: Window
    verdicts: tuple[Verdict, ...]
    score: float
    status: Status  # pass, warn or fail for the whole check
    extra: dict[str, object] = field(default_factory=dict)


QueryFn = Callable[[str, float], list[Sample]]


def evaluate(slo_set: SLOSet, window: Window, query: QueryFn) -> CheckResult:
    """Run every objective's queries at the window's end and judge the results."""
    if window.seconds <= 0:
        raise ValueError("the window must end after it starts")
    planned = [(obj, objective_queries(slo_set, obj, window.seconds)) for obj in slo_set.objectives]
    texts = sorted({q for _, qs in planned for q in (qs.value, qs.events, qs.buckets) if q is not None})
    with ThreadPoolExecutor(max_workers=QUERY_CONCURRENCY) as pool:
        answers = dict(zip(texts, pool.map(lambda text: query(text, window.end), texts), strict=True))
    verdicts: list[Verdict] = []
    for objective, queries in planned:
        events = answers[queries.events] if queries.events is not None else None
        buckets = answers[queries.buckets] if queries.buckets is not None else None
        verdicts.extend(judge_objective(slo_set, objective, queries, answers[queries.value], events, buckets))
    score, status = score_verdicts(slo_set, verdicts)
    return CheckResult(slo_set, window, tuple(verdicts), score, status)


def group_of(objective: Objective, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The group key of a sample: its `by` label values ("implementation=rust"), or all labels for raw PromQL."""
    if isinstance(objective.sli, PromQLSLI | PromQLRatioSLI):
        keys: Sequence[str] = sorted(k for k in labels if k != "__name__")
    else:
        keys = objective.by
    chosen = {k: labels.get(k, "") for k in keys}
    return ",".join(f"{k}={v}" for k, v in chosen.items()), chosen


def min_events(slo_set: SLOSet, objective: Objective) -> int:
    if isinstance(objective.sli, MemoryGrowthSLI) and objective.min_events is None:
        return MIN_GROWTH_SAMPLES  # samples in the window, not requests
    return slo_set.min_events_for(objective)


def judge_objective(
    slo_set: SLOSet,
    objective: Objective,
    queries: ObjectiveQueries,
    values: Sequence[Sample],
    events: Sequence[Sample] | None,
    buckets: Sequence[Sample] | None = None,
) -> list[Verdict]:
    """Judge every group an objective's queries returned; an empty answer is one no_data verdict."""
    by_group: dict[str, tuple[dict[str, str], float | None, float | None]] = {}
    for sample in events or ():
        key, labels = group_of(objective, sample.labels)
        by_group[key] = (labels, None, sample.value)
    for sample in values:
        key, labels = group_of(objective, sample.labels)
        _, _, n = by_group.get(key, (labels, None, None))
        by_group[key] = (labels, sample.value, n)
    if not by_group:
        by_group[""] = ({}, None, None)
    bucket_counts = _bucket_counts_by_group(objective, buckets or ())

    needed = min_events(slo_set, objective)
    no_data_as = _NO_DATA_AS[slo_set.no_data_for(objective)]
    # Values without an interval are judged on their estimate whatever the spec-wide decideOn says.
    decide_on = slo_set.decide_on_for(objective) if has_interval(objective) else DecideOn.ESTIMATE
    verdicts = []
    for key in sorted(by_group):
        labels, value, n = by_group[key]
        shown = None if value is None or math.isnan(value) else value
        interval = value_interval(objective, shown, n, bucket_counts.get(key, []))
        within_noise = False
        if shown is None:
            status, reason = Status.NO_DATA, "the query returned no value"
        elif events is not None and (n is None or n < needed):
            status, reason = Status.NO_DATA, f"{_fmt_count(n)} events in the window, fewer than {needed}"
        else:
            status, reason = judge_value(objective, shown, interval, decide_on)
            if interval is not None and straddles_a_bound(objective, interval):
                within_noise = True
                if decide_on is DecideOn.ESTIMATE:  # under confidence the reason already says it
                    noise = f"within noise: the {_level(interval)} CI straddles a bound"
                    reason = f"{reason}; {noise}" if reason else noise
        counts_as = no_data_as if status in (Status.NO_DATA, Status.INCONCLUSIVE) else status
        verdicts.append(Verdict(objective, key, labels, shown, n, status, counts_as, queries, reason,
                                interval=interval, within_noise=within_noise, decided_on=decide_on))
    return verdicts


def _bucket_counts_by_group(objective: Objective, buckets: Sequence[Sample]) -> dict[str, list[tuple[float, float]]]:
    """(upper bound, cumulative count) per group from a `sum by (le, ...)` answer; unreadable `le`s are skipped."""
    return bucket_counts(buckets, lambda labels: group_of(objective, labels)[0])


def value_interval(objective: Objective, value: float | None, events: float | None,
                   buckets: Sequence[tuple[float, float]]) -> Interval | None:
    """The value's confidence interval: a quantile's from its bucket counts, a share's from its events."""
    sli = objective.sli
    if isinstance(sli, LatencySLI):
        return quantile_interval(sli.quantile, buckets) if buckets else None
    if isinstance(sli, LatencyRatioSLI | ErrorRatioSLI) and value is not None and events:
        return wilson(value * events, events)
    return None


def has_interval(objective: Objective) -> bool:
    """Whether the objective's values carry a confidence interval (and so whether decideOn applies)."""
    return isinstance(objective.sli, LatencySLI | LatencyRatioSLI | ErrorRatioSLI)


def judge_value(objective: Objective, value: float, interval: Interval | None,
                decide_on: DecideOn) -> tuple[Status, str]:
    """Status and reason of one group's value against the objective and warning bounds."""
    if decide_on is DecideOn.CONFIDENCE:
        if interval is None:
            return Status.INCONCLUSIVE, "no confidence interval: the window's counts give none"
        return _judge_interval(objective, interval)
    if not objective.objective.contains(value):
        return Status.FAIL, "outside the objective"
    if objective.warning is not None and not objective.warning.contains(value):
        return Status.WARN, "outside the warning bound"
    return Status.PASS, ""


def _judge_interval(objective: Objective, interval: Interval) -> tuple[Status, str]:
    """decideOn: confidence. Pass only when the whole interval clears every bound; fail only when none of it does."""
    level = _level(interval)
    if _inside(objective.objective, interval):
        if objective.warning is None or _inside(objective.warning, interval):
            return Status.PASS, ""
        # Never a fail whatever the truth: the worse of pass and warn, as a warning is meant to be.
        return Status.WARN, f"the {level} CI reaches past the warning bound"
    if _outside(objective.objective, interval):
        return Status.FAIL, f"the whole {level} CI is outside the objective"
    return Status.INCONCLUSIVE, f"the {level} CI straddles the objective"


def straddles_a_bound(objective: Objective, interval: Interval) -> bool:
    bounds = [objective.objective] + ([objective.warning] if objective.warning is not None else [])
    return any(interval.straddles(bound.min, bound.max) for bound in bounds)


def _inside(bound: Bound, interval: Interval) -> bool:
    return bound.contains(interval.low) and bound.contains(interval.high)


def _outside(bound: Bound, interval: Interval) -> bool:
    above = bound.max is not None and interval.low > bound.max
    below = bound.min is not None and interval.high < bound.min
    return above or below


def _level(interval: Interval) -> str:
    return f"{format_number(round(interval.level * 100, 6))} %"


def score_verdicts(slo_set: SLOSet, verdicts: Sequence[Verdict]) -> tuple[float, Status]:
    """Keptn-style score (weights; pass 1, warn 0.5) and the check's overall status.

    A failing key objective fails the check whatever the score. Without a
    `scoring` block any failure fails the check (the CLI contract); with one,
    the score decides between pass, warn and fail.
    """
    total = sum(v.objective.weight for v in verdicts)
    earned = sum(v.objective.weight * _POINTS[v.counts_as] for v in verdicts)
    score = 100.0 * earned / total if total else 0.0
    failed = [v for v in verdicts if v.counts_as is Status.FAIL]
    warned = any(v.counts_as is Status.WARN for v in verdicts)
    if any(v.objective.key for v in failed):
        return score, Status.FAIL
    if slo_set.scoring is None:
        if failed:
            return score, Status.FAIL
        return score, Status.WARN if warned else Status.PASS
    if score < slo_set.scoring.warning_percent:
        return score, Status.FAIL
    if score < slo_set.scoring.pass_percent or failed or warned:
        return score, Status.WARN
    return score, Status.PASS


def _fmt_count(n: float | None) -> str:
    if n is None or math.isnan(n):
        return "no"
    return f"{n:.0f}"
