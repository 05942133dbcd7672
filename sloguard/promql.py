"""SLI -> PromQL. Every query sloguard sends is built here and nowhere else.

Window semantics (DESIGN.md): over a check window [start, end] with range
R = end - start, every query is evaluated at `end` and reads R of data.
Label values are escaped, so a selector value with quotes or backslashes
cannot break a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sloguard.conventions import le_spellings
from sloguard.durations import format_promql_duration
from sloguard.spec.model import (
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

WINDOW_PLACEHOLDER = "{{window}}"


@dataclass(frozen=True)
class ObjectiveQueries:
    """The value query of an objective and, when it has one, the query counting its events."""

    value: str
    events: str | None


def escape_label_value(value: str) -> str:
    """Escape a label value for a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_matchers(matchers: Iterable[Matcher]) -> str:
    """`{a="b",c=~"d"}`, or "" when there are none."""
    parts = [f'{m.label}{m.op}"{escape_label_value(m.value)}"' for m in matchers]
    return "{" + ",".join(parts) + "}" if parts else ""


def series(metric: str, *matcher_groups: Iterable[Matcher]) -> str:
    """A vector selector: the metric with the spec's selector and any extra matchers."""
    merged: list[Matcher] = []
    for group in matcher_groups:
        for matcher in group:
            if matcher not in merged:
                merged.append(matcher)
    return metric + render_matchers(merged)


def le_matcher(threshold: float) -> Matcher:
    """Match the bucket whose upper bound is `threshold`, however the exporter spells it."""
    spellings = le_spellings(threshold)
    if len(spellings) == 1:
        return Matcher("le", "=", spellings[0])
    return Matcher("le", "=~", "|".join(re.escape(s) for s in spellings))


def aggregate(op: str, by: Sequence[str], expr: str) -> str:
    """`sum by (a, b) (expr)`, or `sum(expr)` with no grouping labels."""
    if by:
        return f"{op} by ({', '.join(by)}) ({expr})"
    return f"{op}({expr})"


def increase(selector: str, window: str) -> str:
    return f"increase({selector}[{window}])"


def objective_queries(slo_set: SLOSet, objective: Objective, window_seconds: float) -> ObjectiveQueries:
    """Build the value and events queries of one objective over a window of `window_seconds`."""
    window = format_promql_duration(window_seconds)
    base = slo_set.selector
    by = objective.by
    sli = objective.sli

    if isinstance(sli, LatencySLI):
        buckets = increase(series(f"{sli.metric}_bucket", base), window)
        value = f"histogram_quantile({sli.quantile}, {aggregate('sum', ('le', *by), buckets)})"
        events = aggregate("sum", by, increase(series(f"{sli.metric}_count", base), window))
        return ObjectiveQueries(value, events)

    if isinstance(sli, LatencyRatioSLI):
        good = aggregate("sum", by, increase(series(f"{sli.metric}_bucket", base, [le_matcher(sli.threshold)]), window))
        total = aggregate("sum", by, increase(series(f"{sli.metric}_count", base), window))
        return ObjectiveQueries(f"{good} / {total}", total)

    if isinstance(sli, ErrorRatioSLI):
        errors = aggregate("sum", by, increase(series(sli.errors.metric, base, sli.errors.matchers), window))
        total = aggregate("sum", by, increase(series(sli.total.metric, base, sli.total.matchers), window))
        # No error series at all means no errors happened, not "no data": fill with 0 for
        # every group that has traffic, so the ratio is 0 rather than an empty result.
        return ObjectiveQueries(f"({errors} or (0 * {total})) / {total}", total)

    if isinstance(sli, ThroughputSLI):
        total = aggregate("sum", by, increase(series(sli.metric.metric, base, sli.metric.matchers), window))
        return ObjectiveQueries(f"{total} / {format_scalar(window_seconds)}", total)

    if isinstance(sli, MemoryGrowthSLI):
        gauge = f"{series(sli.metric.metric, base, sli.metric.matchers)}[{window}]"
        # The worst instance decides: growth is judged on the fastest-growing process.
        value = f"{aggregate('max', by, f'deriv({gauge})')} * {format_scalar(sli.per_seconds)}"
        events = aggregate("max", by, f"count_over_time({gauge})")
        return ObjectiveQueries(value, events)

    if isinstance(sli, PromQLSLI):
        return ObjectiveQueries(sli.query.replace(WINDOW_PLACEHOLDER, window), None)

    raise TypeError(f"unknown SLI kind {type(sli).__name__}")


def format_scalar(value: float) -> str:
    """A number literal for a query: integral values without a trailing .0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def selector_text(selector: MetricSelector) -> str:
    """Render a parsed selector back to PromQL (used in messages and generated rules)."""
    return series(selector.metric, selector.matchers)
