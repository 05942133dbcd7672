"""Is the window the check judges one Prometheus has data for: not in the future, and how much of it the data covers.

A check reads every SLI with increase() (or deriv()) over [start, end]. When the series an
objective reads has its first sample well after the start (Prometheus started, or first scraped
the target, after it) or its last well before the end, the value counts only part of the window:
throughput reads low, a ratio rests on fewer events. Prometheus extrapolates increase() to an
edge up to 1.1 sample intervals away, and only half an interval further when the gap is longer,
so a gap within 1.1 intervals covers the window and a longer one leaves (gap - interval/2)
uncovered. Coverage is measured per objective and group on the series its events come from
(raw PromQL objectives have none) and reported; it does not change a verdict's status.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sloguard.durations import Window, WindowCoverage, iso
from sloguard.errors import UsageError
from sloguard.evaluate import QUERY_CONCURRENCY, CheckResult, QueryFn, Verdict, group_of
from sloguard.prometheus import Sample
from sloguard.promql import first_sample_time, last_sample_time, latest_sample_time, sample_count

# Prometheus' extrapolation threshold, in mean sample intervals (promql/functions.go, extrapolatedRate).
EXTRAPOLATION_THRESHOLD = 1.1
# The first and last sample come from a subquery with this many steps over the window: exact when a
# step is shorter than the sample interval, otherwise within one step (0.1 % of the window).
COVERAGE_STEPS = 1000
_MIN_STEP_SECONDS = 0.001  # Prometheus' resolution


def require_past(window: Window, now: float) -> None:
    """Refuse a window that ends after `now`: the data it asks about does not exist yet."""
    if window.end > now:
        raise UsageError(
            f"the window ends at {iso(window.end)}, {_duration(window.end - now)} in the future "
            f"(now is {iso(now)}): a check judges data that exists; end it at 'now' or earlier"
        )


def subquery_step(window: Window) -> float:
    return max(_MIN_STEP_SECONDS, round(window.seconds / COVERAGE_STEPS, 3))


def measure_coverage(result: CheckResult, query: QueryFn) -> CheckResult:
    """The result with each verdict's coverage of the window, a note in its reason when it is short."""
    window = result.window
    pairs = sorted({(v.queries.series, tuple(v.objective.by)) for v in result.verdicts if v.queries.series})
    if not pairs:
        return result
    # Cheap instant queries first: the latest sample at the start and at the end, and the count. Only a
    # series with no sample near an edge needs the subquery that finds its first or last one.
    edges = {pair: _EdgeQueries(*pair, window) for pair in pairs}
    answers = _ask(query, [(q, at) for e in edges.values() for q, at in e.instant(window)])
    needed = [e for e in edges.values() if _needs_subqueries(e, window, answers)]
    answers.update(_ask(query, [(q, window.end) for e in needed for q in e.subqueries()]))
    verdicts = []
    for v in result.verdicts:
        if v.queries.series is None:
            verdicts.append(v)
            continue
        coverage = _verdict_coverage(v, window, edges[(v.queries.series, tuple(v.objective.by))], answers)
        reason = "; ".join(part for part in (v.reason, coverage.note) if part)
        verdicts.append(dataclasses.replace(v, coverage=coverage, reason=reason))
    measured = [v.coverage for v in verdicts if v.coverage is not None]
    extra = dict(result.extra)
    extra["coverage"] = {
        "fraction": round(min(c.fraction for c in measured), 4),
        "measured": len(measured),
        "short": sum(1 for c in measured if c.fraction < 1),
    }
    return dataclasses.replace(result, verdicts=tuple(verdicts), extra=extra)


def coverage_warnings(result: CheckResult) -> list[str]:
    """One line per distinct shortfall, naming the objectives it concerns: for the console under the table."""
    by_note: dict[tuple[str, str], list[str]] = {}
    for v in result.verdicts:
        if v.coverage is not None and v.coverage.note:
            name = v.objective.name + (f" [{v.group}]" if v.group else "")
            by_note.setdefault((v.coverage.note, v.coverage.series), []).append(name)
    return [f"warning: {', '.join(names)}: {note}" + ("" if series in note else f" (series {series})")
            for (note, series), names in by_note.items()]


Answers = dict[tuple[str, float], list[Sample]]


class _EdgeQueries:
    """The queries that find where one series' samples (per group of `by`) begin and end in the window."""

    def __init__(self, series: str, by: tuple[str, ...], window: Window) -> None:
        self.series, self.step = series, subquery_step(window)
        self.latest = latest_sample_time(series, by)
        self.count = sample_count(series, by, window.seconds)
        self.first = first_sample_time(series, by, window.seconds, self.step)
        self.last = last_sample_time(series, by, window.seconds, self.step)

    def instant(self, window: Window) -> list[tuple[str, float]]:
        return [(self.latest, window.start), (self.latest, window.end), (self.count, window.end)]

    def subqueries(self) -> list[str]:
        return [self.first, self.last]


def _ask(query: QueryFn, wanted: Sequence[tuple[str, float]]) -> Answers:
    unique = sorted(set(wanted))
    with ThreadPoolExecutor(max_workers=QUERY_CONCURRENCY) as pool:
        return dict(zip(unique, pool.map(lambda item: query(*item), unique), strict=True))


def _needs_subqueries(edges: _EdgeQueries, window: Window, answers: Answers) -> bool:
    """Whether a group with samples in the window has none near its start or near its end."""
    def groups(text: str, at: float, least: float = -math.inf) -> set[frozenset[tuple[str, str]]]:
        return {frozenset(s.labels.items()) for s in answers[(text, at)] if math.isfinite(s.value) and s.value >= least}

    counted = groups(edges.count, window.end, least=1)
    return bool(counted - groups(edges.latest, window.start) or counted - groups(edges.latest, window.end))


def _verdict_coverage(verdict: Verdict, window: Window, edges: _EdgeQueries, answers: Answers) -> WindowCoverage:
    """The coverage of the verdict's group; an ungrouped verdict of a grouped objective takes every group."""
    wanted = None if verdict.group == "" else verdict.group

    def values(text: str, at: float) -> list[float]:
        return [s.value for s in answers.get((text, at), ()) if math.isfinite(s.value)
                and (wanted is None or group_of(verdict.objective, s.labels)[0] == wanted)]

    samples = max(values(edges.count, window.end), default=0.0)
    at_start = max(values(edges.latest, window.start), default=None)
    at_end = max(values(edges.latest, window.end), default=None)
    first = at_start if at_start is not None else min(values(edges.first, window.end), default=None)
    last = at_end if at_end is not None else max(values(edges.last, window.end), default=None)
    if samples < 1 or first is None or last is None or last < window.start:
        return WindowCoverage(0.0, edges.series, note=f"no sample of {edges.series} in the window")
    step = 0.0 if at_start is not None and at_end is not None else edges.step
    return coverage_of(window, first=first, last=last, samples=int(samples), series=edges.series, step=step)


def coverage_of(window: Window, *, first: float, last: float, samples: int, series: str,
                step: float = 0.0) -> WindowCoverage:
    """Coverage from the first sample (before the start when the series ran through it), the last, and the count."""
    # `step` is how far off the first and last may be (the subquery's resolution): a gap that short is none.
    first_inside = max(first, window.start)
    interval = (last - first_inside) / (samples - 1) if samples >= 2 and last > first_inside else None
    late = max(0.0, first - window.start)
    early = max(0.0, window.end - last)
    uncovered = _uncovered(late, interval, step) + _uncovered(early, interval, step)
    fraction = min(1.0, max(0.0, 1.0 - uncovered / window.seconds))
    shown_first = window.start if first <= window.start else first
    return WindowCoverage(fraction, series, first=shown_first, last=last, interval=interval,
                          note=_note(fraction, late if _uncovered(late, interval, step) else 0.0,
                                     early if _uncovered(early, interval, step) else 0.0, first, last))


def _uncovered(gap: float, interval: float | None, step: float) -> float:
    """The part of an edge gap increase() does not extrapolate over (Prometheus' rule)."""
    if interval is None:
        return gap
    if gap <= EXTRAPOLATION_THRESHOLD * interval + step:
        return 0.0
    return gap - interval / 2


def _note(fraction: float, late: float, early: float, first: float, last: float) -> str:
    if fraction >= 1 or not (late or early):
        return ""
    parts = []
    if late:
        parts.append(f"its first sample is {_duration(late)} after the start ({iso(first)})")
    if early:
        parts.append(f"its last sample is {_duration(early)} before the end ({iso(last)})")
    return f"data covers {_percent(fraction)} of the window: {' and '.join(parts)}"


def _percent(fraction: float) -> str:
    # Rounded down, so a window short by a little never reads as 100 %.
    return f"{math.floor(fraction * 1000) / 10:g} %"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (365.25 * 86400):.1f} years"
