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

from sloguard.conventions import format_number, le_spellings
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


# ---- recording and alert rules, dashboards (sloguard/rules.py, sloguard/dashboards.py) ----------
# Rule and panel expressions use rate() (per second) over a fixed window rather than increase()
# over the check window: the ratio is the same, and rates are what Sloth's rules record.


def rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def labels_selector(metric: str, labels: dict[str, str]) -> str:
    """`metric{a="b",...}` with equality matchers, in the given order."""
    return series(metric, [Matcher(k, "=", v) for k, v in labels.items()])


def sli_error_ratio(slo_set: SLOSet, objective: Objective, window: str) -> str:
    """The share of bad events over `window` of a ratio SLI (errorRatio or latencyRatio)."""
    base, by, sli = slo_set.selector, objective.by, objective.sli
    if isinstance(sli, ErrorRatioSLI):
        errors = aggregate("sum", by, rate(series(sli.errors.metric, base, sli.errors.matchers), window))
        total = aggregate("sum", by, rate(series(sli.total.metric, base, sli.total.matchers), window))
        # No error series means no errors: 0 for every group with traffic, not an empty result.
        return f"({errors} or (0 * {total})) / {total}"
    if isinstance(sli, LatencyRatioSLI):
        good = aggregate("sum", by, rate(series(f"{sli.metric}_bucket", base, [le_matcher(sli.threshold)]), window))
        total = aggregate("sum", by, rate(series(f"{sli.metric}_count", base), window))
        return f"({total} - {good}) / {total}"
    raise TypeError(f"{type(sli).__name__} is not a ratio SLI")


def sli_events_rate(slo_set: SLOSet, objective: Objective, window: str) -> str | None:
    """Events per second behind an SLI over `window`, when the SLI counts events."""
    base, by, sli = slo_set.selector, objective.by, objective.sli
    if isinstance(sli, ErrorRatioSLI):
        return aggregate("sum", by, rate(series(sli.total.metric, base, sli.total.matchers), window))
    if isinstance(sli, LatencyRatioSLI | LatencySLI):
        return aggregate("sum", by, rate(series(f"{sli.metric}_count", base), window))
    return None


def sli_value(slo_set: SLOSet, objective: Objective, window: str) -> str:
    """The value of an SLI over a PromQL duration `window`, as rule and panel expressions read it."""
    base, by, sli = slo_set.selector, objective.by, objective.sli
    if isinstance(sli, LatencySLI):
        buckets = rate(series(f"{sli.metric}_bucket", base), window)
        return f"histogram_quantile({format_scalar(sli.quantile)}, {aggregate('sum', ('le', *by), buckets)})"
    if isinstance(sli, LatencyRatioSLI):
        good = aggregate("sum", by, rate(series(f"{sli.metric}_bucket", base, [le_matcher(sli.threshold)]), window))
        total = aggregate("sum", by, rate(series(f"{sli.metric}_count", base), window))
        return f"{good} / {total}"
    if isinstance(sli, ErrorRatioSLI):
        return sli_error_ratio(slo_set, objective, window)
    if isinstance(sli, ThroughputSLI):
        return aggregate("sum", by, rate(series(sli.metric.metric, base, sli.metric.matchers), window))
    if isinstance(sli, MemoryGrowthSLI):
        gauge = f"{series(sli.metric.metric, base, sli.metric.matchers)}[{window}]"
        return f"{aggregate('max', by, f'deriv({gauge})')} * {format_scalar(sli.per_seconds)}"
    if isinstance(sli, PromQLSLI):
        return sli.query.replace(WINDOW_PLACEHOLDER, window)
    raise TypeError(f"unknown SLI kind {type(sli).__name__}")


def period_average(selector: str, period: str) -> str:
    """Sloth's period SLI: the mean of a recorded short-window ratio over the whole period."""
    return f"sum_over_time({selector}[{period}]) / ignoring (sloth_window) count_over_time({selector}[{period}])"


def constant(value: float) -> str:
    return f"vector({format_number(value)})"


def divide_on(left: str, right: str, on: Sequence[str]) -> str:
    """left / right, matching on `on` and keeping the left side's extra labels."""
    return f"{left} / on ({', '.join(on)}) group_left {right}"


def compare(expr: str, op: str, value: float) -> str:
    return f"{expr} {op} {format_number(value)}"


def both(*exprs: str, ignoring: Sequence[str] = ()) -> str:
    """(a) and (b) and ...: every condition holds for the same series."""
    joiner = f" and ignoring ({', '.join(ignoring)}) " if ignoring else " and "
    return joiner.join(f"({e})" for e in exprs)


def either(*exprs: str, ignoring: Sequence[str] = ()) -> str:
    joiner = f" or ignoring ({', '.join(ignoring)}) " if ignoring else " or "
    return joiner.join(f"({e})" for e in exprs)


def counter_rate_by(metric: str, matchers: Iterable[Matcher], by: Sequence[str], window: str) -> str:
    return aggregate("sum", by, rate(series(metric, matchers), window))


def quantile_by(q: float, histogram: str, matchers: Iterable[Matcher], by: Sequence[str], window: str) -> str:
    """histogram_quantile over a histogram's buckets, grouped by `by`."""
    buckets = rate(series(f"{histogram}_bucket", matchers), window)
    return f"histogram_quantile({format_scalar(q)}, {aggregate('sum', ('le', *by), buckets)})"


def absent_series(selector: str) -> str:
    return f"absent({selector})"


def drop_labels(op: str, labels: Sequence[str], expr: str) -> str:
    """`max without (a) (expr)`: the same series without labels that must not split an alert."""
    return f"{op} without ({', '.join(labels)}) ({expr})"
