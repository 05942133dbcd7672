"""SLI -> PromQL. Every query sloguard sends or generates is built here and nowhere else.

Window semantics (docs/architecture.md): over a check window [start, end] with range
R = end - start, every query is evaluated at `end` and reads R of data. Rules and
dashboard panels read the same SLI per second over a fixed window instead. Each SLI
kind has one function that builds its queries, and the window comes in as data (a
`Reading`), so the check's, the rules' and the panels' variants cannot drift apart.
Label values are escaped, so a selector value with quotes or backslashes cannot break
a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sloguard import conventions as c
from sloguard.durations import format_promql_duration
from sloguard.numbers import format_number, le_spellings
from sloguard.spec import model
from sloguard.spec.model import WINDOW_PLACEHOLDER, Matcher, MetricSelector, Objective, SLOSet

# ---- building blocks ---------------------------------------------------------------------------


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


def labels_selector(metric: str, labels: dict[str, str]) -> str:
    """`metric{a="b",...}` with equality matchers, in the given order."""
    return series(metric, [Matcher(k, "=", v) for k, v in labels.items()])


def selector_text(selector: MetricSelector) -> str:
    """Render a parsed selector back to PromQL (used in messages and generated rules)."""
    return series(selector.metric, selector.matchers)


def histogram_series(histogram: MetricSelector, suffix: str, base: Iterable[Matcher],
                     extra: Iterable[Matcher] = ()) -> str:
    """A histogram's _bucket, _count or _sum: the spec's selector, then the histogram's matchers, then `extra`."""
    return series(f"{histogram.metric}{suffix}", base, histogram.matchers, extra)


def le_matcher(threshold: float) -> Matcher:
    """Match the bucket whose upper bound is `threshold`, however the exporter spells it."""
    spellings = le_spellings(threshold)
    if len(spellings) == 1:
        return Matcher("le", "=", spellings[0])
    return Matcher("le", "=~", "|".join(re.escape(s) for s in spellings))


def format_scalar(value: float) -> str:
    """A number literal for a query: integral values without a trailing .0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def aggregate(op: str, by: Sequence[str], expr: str) -> str:
    """`sum by (a, b) (expr)`, or `sum(expr)` with no grouping labels."""
    if by:
        return f"{op} by ({', '.join(by)}) ({expr})"
    return f"{op}({expr})"


def increase(selector: str, window: str) -> str:
    return f"increase({selector}[{window}])"


def rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def rollout_percent_by_flag() -> str:
    """A rollout's percent per flag, from its controller's metrics (their own scrape job, hence no spec selector)."""
    return aggregate("max", (c.LABEL_ROLLOUT, c.LABEL_FLAG), c.ROLLOUT_PERCENT)


def rollout_decisions(window: str) -> str:
    """A rollout's decisions per kind over the window (looks, promotions, rollbacks, holds...)."""
    return aggregate("sum", (c.LABEL_ROLLOUT, c.LABEL_DECISION), increase(c.ROLLOUT_DECISIONS, window))


def rollout_step_changes(window: str) -> str:
    """Non-empty where a rollout's split changed within the window: a step's window started (promote or rollback)."""
    return f"changes({c.ROLLOUT_STEP_STARTED}[{window}]) > 0"


def histogram_quantile(q: float, by: Sequence[str], buckets: str) -> str:
    """The q-quantile of a histogram's bucket counts (or rates), grouped by `by`."""
    return f"histogram_quantile({format_scalar(q)}, {aggregate('sum', ('le', *by), buckets)})"


def ratio_absent_as_zero(part: str, total: str) -> str:
    """part / total, where an absent `part` counts as 0 for every group that has a total.

    No error series at all means no errors happened, not "no data": without the fill the
    ratio would be an empty result rather than 0.
    """
    return f"({part} or (0 * {total})) / {total}"


# ---- one function per SLI kind -----------------------------------------------------------------
# Rule and panel expressions use rate() (per second) over a fixed window rather than increase()
# over the check window: the ratio is the same, and rates are what Sloth's rules record.


@dataclass(frozen=True)
class Reading:
    """How an SLI's queries read their window: increase() over a check window, or rate() over a rule's."""

    function: Literal["increase", "rate"]
    window: str  # a PromQL duration, or a Grafana variable such as $__rate_interval
    seconds: float | None = None  # increase(): the window's length, which turns a count into a rate

    def counter(self, selector: str) -> str:
        return f"{self.function}({selector}[{self.window}])"

    def per_second(self, counted: str) -> str:
        return counted if self.seconds is None else f"{counted} / {format_scalar(self.seconds)}"


def over_check_window(seconds: float) -> Reading:
    """The check's reading: counts over the whole window, `seconds` long."""
    return Reading("increase", format_promql_duration(seconds), seconds)


def per_second_over(window: str) -> Reading:
    """The rules' and panels' reading: rates over `window`."""
    return Reading("rate", window)


@dataclass(frozen=True)
class SLIQueries:
    """An SLI's queries over one reading of its window."""

    value: str
    events: str | None = None  # the events behind the value (counted, or per second)
    samples: str | None = None  # memory growth: the gauge's samples, which stand in for events in a check
    bad_ratio: str | None = None  # a ratio SLI: the share of bad events, as Sloth's rules record it
    buckets: str | None = None  # a quantile: the bucket counts per `le` and group that its confidence interval needs
    series: str | None = None  # the selector of the series the events are read from: a check measures coverage on it


def sli_queries(slo_set: SLOSet, objective: Objective, reading: Reading) -> SLIQueries:
    """Every query of an objective's SLI over `reading`: the one place that branches on the SLI kind."""
    sli, base, by = objective.sli, slo_set.selector, objective.by
    match sli:
        case model.LatencySLI():
            return _latency(sli, base, by, reading)
        case model.LatencyRatioSLI():
            return _latency_ratio(sli, base, by, reading)
        case model.ErrorRatioSLI():
            return _error_ratio(sli, base, by, reading)
        case model.ThroughputSLI():
            return _throughput(sli, base, by, reading)
        case model.MemoryGrowthSLI():
            return _memory_growth(sli, base, by, reading)
        case model.PromQLSLI():
            return SLIQueries(sli.query.replace(WINDOW_PLACEHOLDER, reading.window))
        case model.PromQLRatioSLI():
            return _promql_ratio(sli, reading)
    raise TypeError(f"unknown SLI kind {type(sli).__name__}")


Base = tuple[Matcher, ...]
By = tuple[str, ...]


def _latency(sli: model.LatencySLI, base: Base, by: By, reading: Reading) -> SLIQueries:
    buckets = reading.counter(histogram_series(sli.histogram, "_bucket", base))
    value = histogram_quantile(sli.quantile, by, buckets)
    count = histogram_series(sli.histogram, "_count", base)
    events = aggregate("sum", by, reading.counter(count))
    return SLIQueries(value, events=events, buckets=aggregate("sum", ("le", *by), buckets), series=count)


def _latency_ratio(sli: model.LatencyRatioSLI, base: Base, by: By, reading: Reading) -> SLIQueries:
    bucket = histogram_series(sli.histogram, "_bucket", base, [le_matcher(sli.threshold)])
    good = aggregate("sum", by, reading.counter(bucket))
    count = histogram_series(sli.histogram, "_count", base)
    total = aggregate("sum", by, reading.counter(count))
    return SLIQueries(f"{good} / {total}", events=total, bad_ratio=f"({total} - {good}) / {total}", series=count)


def _error_ratio(sli: model.ErrorRatioSLI, base: Base, by: By, reading: Reading) -> SLIQueries:
    errors = aggregate("sum", by, reading.counter(series(sli.errors.metric, base, sli.errors.matchers)))
    counted = series(sli.total.metric, base, sli.total.matchers)
    total = aggregate("sum", by, reading.counter(counted))
    ratio = ratio_absent_as_zero(errors, total)
    return SLIQueries(ratio, events=total, bad_ratio=ratio, series=counted)


def _throughput(sli: model.ThroughputSLI, base: Base, by: By, reading: Reading) -> SLIQueries:
    counted = series(sli.metric.metric, base, sli.metric.matchers)
    total = aggregate("sum", by, reading.counter(counted))
    return SLIQueries(reading.per_second(total), events=total, series=counted)


def _memory_growth(sli: model.MemoryGrowthSLI, base: Base, by: By, reading: Reading) -> SLIQueries:
    sampled = series(sli.metric.metric, base, sli.metric.matchers)
    gauge = f"{sampled}[{reading.window}]"
    # The worst instance decides: growth is judged on the fastest-growing process.
    value = f"{aggregate('max', by, f'deriv({gauge})')} * {format_scalar(sli.per_seconds)}"
    return SLIQueries(value, samples=aggregate("max", by, f"count_over_time({gauge})"), series=sampled)


def _promql_ratio(sli: model.PromQLRatioSLI, reading: Reading) -> SLIQueries:
    """Sloth's events and raw SLIs: the user's queries with the window filled in, divided as Sloth divides them.

    No events query: whether the total query counts events or rates them is the user's choice, so
    sloguard cannot hold it against minEvents.
    """
    def filled(query: str) -> str:
        return query.replace(WINDOW_PLACEHOLDER, reading.window)

    if sli.error_ratio_query:
        bad = parenthesised(filled(sli.error_ratio_query))
        return SLIQueries(bad, bad_ratio=bad)
    total = filled(sli.total_query)
    if sli.good_query:
        good = quotient(filled(sli.good_query), total)
        return SLIQueries(good, bad_ratio=complement(parenthesised(good)))
    bad = quotient(filled(sli.error_query), total)
    return SLIQueries(bad, bad_ratio=bad)


# ---- the check (sloguard/evaluate.py) ----------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveQueries:
    """The value query of an objective and, when it has one, the query counting its events."""

    value: str
    events: str | None
    buckets: str | None = None  # a latency quantile's bucket counts per `le` and group
    series: str | None = None  # the series the events are read from (none for raw PromQL)


def objective_queries(slo_set: SLOSet, objective: Objective, window_seconds: float) -> ObjectiveQueries:
    """Build the value and events queries of one objective over a window of `window_seconds`."""
    queries = sli_queries(slo_set, objective, over_check_window(window_seconds))
    events = queries.events if queries.samples is None else queries.samples
    return ObjectiveQueries(queries.value, events, queries.buckets, queries.series)


# ---- recording and alert rules, dashboards (sloguard/rules.py, sloguard/dashboards.py) ----------


def sli_value(slo_set: SLOSet, objective: Objective, window: str) -> str:
    """The value of an SLI over a PromQL duration `window`, as rule and panel expressions read it."""
    return sli_queries(slo_set, objective, per_second_over(window)).value


def sli_error_ratio(slo_set: SLOSet, objective: Objective, window: str) -> str:
    """The share of bad events over `window` of a ratio SLI (errorRatio, latencyRatio or promqlRatio)."""
    bad_ratio = sli_queries(slo_set, objective, per_second_over(window)).bad_ratio
    if bad_ratio is None:
        raise TypeError(f"{type(objective.sli).__name__} is not a ratio SLI")
    return bad_ratio


def sli_events_rate(slo_set: SLOSet, objective: Objective, window: str) -> str | None:
    """Events per second behind an SLI over `window`, when the SLI counts events."""
    return sli_queries(slo_set, objective, per_second_over(window)).events


def slo_series(metric: str, slo_id: str) -> str:
    """A recorded series of one SLO, e.g. slo:error_budget:ratio{sloth_id="sark-errors"}."""
    return labels_selector(metric, {c.LABEL_SLO_ID: slo_id})


def period_average(selector: str, period: str) -> str:
    """Sloth's period SLI: the mean of a recorded short-window ratio over the whole period."""
    return (f"sum_over_time({selector}[{period}]) / ignoring ({c.LABEL_SLO_WINDOW}) "
            f"count_over_time({selector}[{period}])")


def constant(value: float) -> str:
    return f"vector({format_number(value)})"


def complement(expr: str) -> str:
    """1 - expr: e.g. the error budget left once `expr` of it has burnt."""
    return f"1 - {expr}"


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
    return histogram_quantile(q, by, rate(series(f"{histogram}_bucket", matchers), window))


def absent_series(selector: str) -> str:
    return f"absent({selector})"


def drop_labels(op: str, labels: Sequence[str], expr: str) -> str:
    """`max without (a) (expr)`: the same series without labels that must not split an alert."""
    return f"{op} without ({', '.join(labels)}) ({expr})"


# ---- dashboard panels (sloguard/dashboards.py) -------------------------------------------------


def firing_alerts(labels: dict[str, str]) -> str:
    """How many alerts with `labels` fire now; 0 rather than no data when none does."""
    return f"count({labels_selector('ALERTS', {**labels, 'alertstate': 'firing'})}) or vector(0)"


def speedup(matchers: Iterable[Matcher], histogram: str, window: str) -> str:
    """How many times faster the Rust path is at p95: Python p95 / Rust p95."""
    p95 = {impl: quantile_by(0.95, histogram, [*matchers, Matcher(c.LABEL_IMPLEMENTATION, "=", impl)], (), window)
           for impl in (c.IMPL_PYTHON, c.IMPL_RUST)}
    return f"{p95[c.IMPL_PYTHON]} / {p95[c.IMPL_RUST]}"


def cache_hit_ratio(matchers: Iterable[Matcher], window: str) -> str:
    """The share of cache gets that hit, per implementation."""
    get = [*matchers, Matcher(c.LABEL_OPERATION, "=", "get")]
    by = (c.LABEL_IMPLEMENTATION,)
    hits = counter_rate_by(c.CACHE_OPERATIONS, [*get, Matcher(c.LABEL_RESULT, "=", "hit")], by, window)
    return f"{hits} / {counter_rate_by(c.CACHE_OPERATIONS, get, by, window)}"


def hit_ratio(hits: str, misses: str, matchers: Iterable[Matcher], by: Sequence[str], window: str) -> str:
    """hits / (hits + misses) of two counters per `by` group (SARK's gateway and policy cache families)."""
    matchers = tuple(matchers)
    hit_rate = counter_rate_by(hits, matchers, by, window)
    # Two selectors summed, not one {__name__=~"hits|misses"}: rate() drops the names, and the two series of
    # one group would then clash ("vector cannot contain metrics with the same labelset").
    return f"{hit_rate} / ({hit_rate} + {counter_rate_by(misses, matchers, by, window)})"


def decision_error_ratio(matchers: Iterable[Matcher], by: Sequence[str], window: str) -> str:
    """The share of authorization decisions that are errors: an errorRatio SLI, read per second."""
    errors = MetricSelector(c.AUTHZ_REQUESTS, (Matcher(c.LABEL_DECISION, "=", "error"),))
    sli = model.ErrorRatioSLI(errors=errors, total=MetricSelector(c.AUTHZ_REQUESTS))
    return _error_ratio(sli, tuple(matchers), tuple(by), per_second_over(window)).value


def memory_growth(matchers: Iterable[Matcher], per_seconds: float, window: str) -> str:
    """Resident memory growth per `per_seconds`, worst instance: a memoryGrowth SLI, read per second."""
    sli = model.MemoryGrowthSLI(MetricSelector(c.PROCESS_RSS), per_seconds)
    return _memory_growth(sli, tuple(matchers), (), per_second_over(window)).value


# ---- imported and exported specs (sloguard/importers/, sloguard/exporters.py) -------------------
# These keep a window placeholder ({{window}}, or Sloth's {{.window}}): filled in by whoever reads them.


def difference(minuend: str, subtrahend: str) -> str:
    """a - b: e.g. a histogram's slow events, all of them less the fast ones."""
    return f"{minuend} - {subtrahend}"


def parenthesised(expr: str) -> str:
    """(expr): an expression made one operand.

    A user's query may end in a PromQL comment (`# errors`); the closing parenthesis then goes on
    a line of its own, or the comment would swallow it and everything after it.
    """
    return f"({expr}\n)" if "#" in expr else f"({expr})"


def quotient(numerator: str, denominator: str) -> str:
    """(a) / (b) of two whole queries."""
    return f"{parenthesised(numerator)} / {parenthesised(denominator)}"


# ---- the check's window coverage (sloguard/window_coverage.py) ----------------------------------
# timestamp() of a plain selector is the sample's own time; of any other expression, the evaluation's.
# At an instant it gives the latest sample (within the lookback); over a subquery of `step`, the first
# and last sample of the window to within `step`, at a cost of one evaluation per step and series.


def latest_sample_time(selector: str, by: Sequence[str]) -> str:
    """The latest sample time per group at the evaluation time, if one lies within the lookback."""
    return aggregate("max", by, f"timestamp({selector})")


def first_sample_time(selector: str, by: Sequence[str], window_seconds: float, step_seconds: float) -> str:
    """The earliest sample time per group in the window (or before its start, within the lookback)."""
    return aggregate("min", by, f"min_over_time({_sample_times(selector, window_seconds, step_seconds)})")


def last_sample_time(selector: str, by: Sequence[str], window_seconds: float, step_seconds: float) -> str:
    """The latest sample time per group at or before the window's end."""
    return aggregate("max", by, f"max_over_time({_sample_times(selector, window_seconds, step_seconds)})")


def sample_count(selector: str, by: Sequence[str], window_seconds: float) -> str:
    """Samples in the window of the group's best-sampled series: with the span, its mean interval."""
    return aggregate("max", by, f"count_over_time({selector}[{format_promql_duration(window_seconds)}])")


def _sample_times(selector: str, window_seconds: float, step_seconds: float) -> str:
    return (f"timestamp({selector})"
            f"[{format_promql_duration(window_seconds)}:{format_promql_duration(step_seconds)}]")


# ---- the demo and load runs on a stack (sloguard/stack.py) -------------------------------------


def last_successful_scrape(job: str) -> str:
    """When Prometheus last scraped `job` successfully: the time of its latest `up` sample, if that is 1."""
    # Not `timestamp(up == 1)`: a comparison is no selector, so timestamp() would give the query's time.
    up = series("up", [Matcher("job", "=", job)])
    return f"timestamp({up}) and {up} == 1"


# ---- compare from Prometheus (sloguard/sources.py) ---------------------------------------------


def mean_latency_per_step(histogram: str, matchers: Iterable[Matcher], by: Sequence[str], step: str) -> str:
    """increase(_sum[step]) / increase(_count[step]) per `by` group: the mean of each `step` interval."""
    matchers = tuple(matchers)
    return (f"{aggregate('sum', by, increase(series(histogram + '_sum', matchers), step))} / "
            f"{aggregate('sum', by, increase(series(histogram + '_count', matchers), step))}")


# ---- a rollout step's Rust-vs-Python comparison (sloguard/rollout/controller.py) ----------------
# Counts over the step's window [step start, now], evaluated at now, one series per implementation.


def requests_by_implementation(matchers: Iterable[Matcher], window_seconds: float) -> str:
    """Authorization decisions per implementation over the window."""
    selector = series(c.AUTHZ_REQUESTS, matchers)
    return aggregate("sum", (c.LABEL_IMPLEMENTATION,), increase(selector, format_promql_duration(window_seconds)))


def errors_by_implementation(matchers: Iterable[Matcher], window_seconds: float) -> str:
    """Authorization decisions that ended in an error, per implementation, over the window."""
    selector = series(c.AUTHZ_REQUESTS, matchers, [Matcher(c.LABEL_DECISION, "=", "error")])
    return aggregate("sum", (c.LABEL_IMPLEMENTATION,), increase(selector, format_promql_duration(window_seconds)))


def fallbacks_total(matchers: Iterable[Matcher], window_seconds: float) -> str:
    """Rust-to-Python fallbacks over the window: Rust attempts that failed and Python served."""
    return aggregate("sum", (), increase(series(c.FALLBACKS, matchers), format_promql_duration(window_seconds)))


def latency_buckets_by_implementation(matchers: Iterable[Matcher], window_seconds: float) -> str:
    """Cumulative bucket counts of the end-to-end authorization latency per implementation over the window."""
    selector = series(c.AUTHZ_DURATION + "_bucket", matchers)
    by = (c.LABEL_IMPLEMENTATION, "le")
    return aggregate("sum", by, increase(selector, format_promql_duration(window_seconds)))
