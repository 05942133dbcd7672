"""The internal SLO model: what the v1 spec is turned into and what everything else uses.

It is independent of any spec version; `sloguard.spec.v1` parses YAML into its
own pydantic models and a pure function converts them to these dataclasses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class NoData(StrEnum):
    """How an objective with no (or too little) data counts."""

    FAIL = "fail"
    WARN = "warn"
    PASS = "pass"


class DecideOn(StrEnum):
    """What a verdict is judged on: the value, or its confidence interval (pass only when it clears the bound)."""

    ESTIMATE = "estimate"
    CONFIDENCE = "confidence"


@dataclass(frozen=True)
class Matcher:
    """One label matcher: label op "value" with op one of = != =~ !~."""

    label: str
    op: str
    value: str


@dataclass(frozen=True)
class MetricSelector:
    """A metric name with label matchers, e.g. sark_authz_requests_total{decision="error"}."""

    metric: str
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class Bound:
    """An inclusive range a value must stay in; either side may be open."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)


@dataclass(frozen=True)
class LatencySLI:
    """histogram_quantile(quantile) over the window."""

    # The histogram's base name (without _bucket) and its matchers, which apply to _bucket and _count alike.
    histogram: MetricSelector
    quantile: float


@dataclass(frozen=True)
class LatencyRatioSLI:
    """Share of observations at or under `threshold` (an exact bucket bound)."""

    histogram: MetricSelector  # as in LatencySLI; never an `le` matcher: the threshold picks the bucket
    threshold: float


@dataclass(frozen=True)
class ErrorRatioSLI:
    """increase(errors) / increase(total) over the window."""

    errors: MetricSelector
    total: MetricSelector


@dataclass(frozen=True)
class ThroughputSLI:
    """increase(total) / window seconds."""

    metric: MetricSelector


@dataclass(frozen=True)
class MemoryGrowthSLI:
    """deriv(gauge) over the window scaled to `per_seconds`, worst instance."""

    metric: MetricSelector
    per_seconds: float


# In a promql SLI's query, where the window goes (as a PromQL duration such as 600s).
WINDOW_PLACEHOLDER = "{{window}}"


@dataclass(frozen=True)
class PromQLSLI:
    """A user query; {{window}} is replaced with the window as a PromQL duration."""

    query: str


@dataclass(frozen=True)
class PromQLRatioSLI:
    """A ratio given as raw PromQL with {{window}} (Sloth's events and raw SLIs).

    Exactly one shape is set: error_query / total_query, good_query / total_query, or
    error_ratio_query alone (the share of bad events itself).
    """

    error_query: str = ""
    good_query: str = ""
    total_query: str = ""
    error_ratio_query: str = ""

    @property
    def counts_good(self) -> bool:
        """The value is the share of good events (bounded by a min), not of bad ones (bounded by a max)."""
        return bool(self.good_query)


SLI = LatencySLI | LatencyRatioSLI | ErrorRatioSLI | ThroughputSLI | MemoryGrowthSLI | PromQLSLI | PromQLRatioSLI


@dataclass(frozen=True)
class AlertMetadata:
    """Labels and annotations added to generated alerts (Sloth's page_alert / ticket_alert); disable drops them."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    disable: bool = False


@dataclass(frozen=True)
class ObjectiveAlerting:
    """One objective's alerting block (Sloth's SLO `alerting`), over the spec-wide one."""

    name: str = ""  # the alert name of both severities; "" means sloguard's <CamelName><Suffix>
    common: AlertMetadata = field(default_factory=AlertMetadata)
    page: AlertMetadata = field(default_factory=AlertMetadata)
    ticket: AlertMetadata = field(default_factory=AlertMetadata)


@dataclass(frozen=True)
class Objective:
    name: str
    sli: SLI
    objective: Bound
    warning: Bound | None = None
    by: tuple[str, ...] = ()
    key: bool = False
    weight: float = 1.0
    description: str = ""
    min_events: int | None = None  # overrides the spec-wide minEvents
    no_data: NoData | None = None  # overrides the spec-wide noData
    decide_on: DecideOn | None = None  # overrides the spec-wide decideOn
    labels: dict[str, str] = field(default_factory=dict)  # on every recording rule (Sloth's SLO labels)
    alerting: ObjectiveAlerting = field(default_factory=ObjectiveAlerting)


@dataclass(frozen=True)
class Scoring:
    """Keptn-style total-score thresholds in percent; absent means any failure fails."""

    pass_percent: float
    warning_percent: float


@dataclass(frozen=True)
class Alerting:
    """How `sloguard rules` alerts: low-traffic guard, links, burn-rate windows file, labels that route."""

    min_request_rate: float = 0.0  # events/s under which burn-rate and latency alerts stay silent (0: off)
    runbook_url: str = ""
    dashboard_url: str = ""  # Grafana base URL; "" means no dashboard annotation
    windows: str = ""  # a built-in windows name or a file path; "" means conventions.DEFAULT_WINDOWS
    common: AlertMetadata = field(default_factory=AlertMetadata)  # on every alert
    page: AlertMetadata = field(default_factory=AlertMetadata)  # on pages, over `common`
    ticket: AlertMetadata = field(default_factory=AlertMetadata)  # on tickets, over `common`
    extra_alerts: tuple[str, ...] = ()  # service alerts asked for by name (conventions.EXTRA_ALERTS)


@dataclass(frozen=True)
class SLOSet:
    name: str
    service: str
    objectives: tuple[Objective, ...]
    selector: tuple[Matcher, ...] = ()
    no_data: NoData = NoData.FAIL
    min_events: int = 100
    decide_on: DecideOn = DecideOn.ESTIMATE
    scoring: Scoring | None = None
    source: str = ""  # the file it was read from, for messages
    labels: dict[str, str] = field(default_factory=dict)
    alerting: Alerting = field(default_factory=Alerting)

    def min_events_for(self, objective: Objective) -> int:
        return self.min_events if objective.min_events is None else objective.min_events

    def no_data_for(self, objective: Objective) -> NoData:
        return self.no_data if objective.no_data is None else objective.no_data

    def decide_on_for(self, objective: Objective) -> DecideOn:
        return self.decide_on if objective.decide_on is None else objective.decide_on
