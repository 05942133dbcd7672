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
from sloguard.durations import Window
from sloguard.prometheus import Sample
from sloguard.promql import ObjectiveQueries, objective_queries
from sloguard.spec.model import MemoryGrowthSLI, NoData, Objective, PromQLRatioSLI, PromQLSLI, SLOSet

# Queries in flight at once: a check of hundreds of objectives is bound by round
# trips, and Prometheus answers concurrent instant queries well.
QUERY_CONCURRENCY = 8


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NO_DATA = "no_data"


# Keptn-style points per status; no_data scores as its noData policy says.
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
    texts = sorted({q for _, qs in planned for q in (qs.value, qs.events) if q is not None})
    with ThreadPoolExecutor(max_workers=QUERY_CONCURRENCY) as pool:
        answers = dict(zip(texts, pool.map(lambda text: query(text, window.end), texts), strict=True))
    verdicts: list[Verdict] = []
    for objective, queries in planned:
        events = answers[queries.events] if queries.events is not None else None
        verdicts.extend(judge_objective(slo_set, objective, queries, answers[queries.value], events))
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

    needed = min_events(slo_set, objective)
    no_data_as = _NO_DATA_AS[slo_set.no_data_for(objective)]
    verdicts = []
    for key in sorted(by_group):
        labels, value, n = by_group[key]
        if value is None or math.isnan(value):
            status, reason = Status.NO_DATA, "the query returned no value"
        elif events is not None and (n is None or n < needed):
            status, reason = Status.NO_DATA, f"{_fmt_count(n)} events in the window, fewer than {needed}"
        elif not objective.objective.contains(value):
            status, reason = Status.FAIL, "outside the objective"
        elif objective.warning is not None and not objective.warning.contains(value):
            status, reason = Status.WARN, "outside the warning bound"
        else:
            status, reason = Status.PASS, ""
        counts_as = no_data_as if status is Status.NO_DATA else status
        shown = None if value is None or math.isnan(value) else value
        verdicts.append(Verdict(objective, key, labels, shown, n, status, counts_as, queries, reason))
    return verdicts


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
