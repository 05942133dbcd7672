"""The v1 YAML schema (apiVersion sloguard/v1) as pydantic models, and its conversion to the internal model.

The models mirror the YAML exactly (camelCase keys, unknown keys rejected), with the field
types of `sloguard.spec.fields`; nothing outside the spec package sees them: `to_model` turns
a validated document into `sloguard.spec.model.SLOSet`, and `sli_fields` says which YAML field
each selector or query of the model came from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from sloguard.conventions import (
    API_VERSION,
    EXTRA_ALERT_TARGET_ABSENT,
    EXTRA_ALERT_TARGET_DOWN,
    EXTRA_ALERTS,
    SERVICE_ALERT_LABELS,
    SPEC_KIND,
)
from sloguard.durations import parse_duration
from sloguard.numbers import format_number
from sloguard.spec import model
from sloguard.spec.fields import (
    AlertLabelName,
    AlertName,
    Count,
    Duration,
    FieldError,
    Histogram,
    LabelName,
    NoDataMode,
    NonEmptyStr,
    ObjectiveName,
    Percent,
    Query,
    RuleLabelName,
    Selector,
    WindowedQuery,
    show,
)
from sloguard.spec.selector import parse_selector

SUPPORTED_VERSIONS = (API_VERSION,)


# ---- the header (checked first by the loader: another version's field errors would mislead) ----


def check_api_version(value: object) -> str:
    if value in SUPPORTED_VERSIONS:
        return str(value)
    if isinstance(value, str) and value.startswith("sloguard/"):
        raise ValueError(f"unsupported version {show(value)}; this sloguard reads {', '.join(SUPPORTED_VERSIONS)}")
    raise ValueError(f"must be {API_VERSION}, got {show(value)}")


def check_kind(value: object, kind: str = SPEC_KIND) -> str:
    if value != kind:
        raise ValueError(f"must be {kind}, got {show(value)}")
    return kind


class _Model(BaseModel):
    # strict: YAML already types its scalars, so "0.005" (a string) or `true` must not pass as
    # a number, nor 1 as a boolean. extra=forbid: a misspelt key is an error, not ignored.
    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel, allow_inf_nan=False, frozen=True)


class Metadata(_Model):
    name: NonEmptyStr
    # On every recording rule of every objective (Sloth's service labels).
    labels: dict[RuleLabelName, str] = Field(default_factory=dict)


class Latency(_Model):
    metric: Histogram
    quantile: Annotated[float, Field(gt=0, lt=1)]


class LatencyRatio(_Model):
    metric: Histogram
    threshold: Annotated[float, Field(gt=0)]


class ErrorRatio(_Model):
    errors: Selector
    total: Selector


class Throughput(_Model):
    metric: Selector


class MemoryGrowth(_Model):
    metric: Selector
    per: Duration = "1h"


class PromQL(_Model):
    query: Query


class PromQLRatio(_Model):
    """A ratio of raw PromQL queries with {{window}}: errors/total, good/total, or the error ratio itself."""

    error_query: WindowedQuery | None = None
    good_query: WindowedQuery | None = None
    total_query: WindowedQuery | None = None
    error_ratio_query: WindowedQuery | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> PromQLRatio:
        shapes = {"errorQuery": self.error_query, "goodQuery": self.good_query,
                  "errorRatioQuery": self.error_ratio_query}
        chosen = [name for name, value in shapes.items() if value is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of errorQuery, goodQuery (each with totalQuery) or errorRatioQuery")
        if self.error_ratio_query is not None and self.total_query is not None:
            raise FieldError(("totalQuery",), "errorRatioQuery is already the ratio; drop totalQuery")
        if self.error_ratio_query is None and self.total_query is None:
            raise ValueError(f"{chosen[0]} needs totalQuery")
        return self

    @property
    def counts_good(self) -> bool:
        return self.good_query is not None


class SLI(_Model):
    """Exactly one of the seven SLI kinds."""

    latency: Latency | None = None
    latency_ratio: LatencyRatio | None = None
    error_ratio: ErrorRatio | None = None
    throughput: Throughput | None = None
    memory_growth: MemoryGrowth | None = None
    promql: PromQL | None = None
    promql_ratio: PromQLRatio | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SLI:
        chosen = [alias for alias, value in self.kinds() if value is not None]
        if not chosen:
            raise ValueError(f"must set exactly one SLI kind: {', '.join(sli_kinds())}")
        if len(chosen) > 1:
            raise FieldError((chosen[1],), f"{chosen[0]} is already set; an SLI has exactly one kind")
        return self

    def kinds(self) -> list[tuple[str, object]]:
        return [(field.alias or name, getattr(self, name)) for name, field in type(self).model_fields.items()]

    def kind(self) -> str:
        return next(alias for alias, value in self.kinds() if value is not None)


def sli_kinds() -> list[str]:
    """The YAML names of the SLI kinds, in declaration order."""
    return [field.alias or name for name, field in SLI.model_fields.items()]


class Bound(_Model):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"must not be greater than max ({format_number(self.max)})")
        return self


class Scoring(_Model):
    """Keptn-style total-score thresholds, in percent."""

    pass_: Percent = Field(alias="pass")
    warning: Percent

    @model_validator(mode="after")
    def _ordered(self) -> Scoring:
        if self.warning > self.pass_:
            raise FieldError(("warning",), f"must not be greater than pass ({format_number(self.pass_)})")
        return self


class AlertMetadata(_Model):
    """Labels and annotations of one severity's alerts (Sloth's page_alert / ticket_alert); disable drops them."""

    labels: dict[AlertLabelName, str] = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)
    disable: bool = False


class _AlertLabels(_Model):
    """What spec-wide and per-objective alerting blocks share: labels and annotations, then per severity."""

    labels: dict[AlertLabelName, str] = Field(default_factory=dict)
    annotations: dict[LabelName, str] = Field(default_factory=dict)
    page_alert: AlertMetadata | None = None
    ticket_alert: AlertMetadata | None = None

    def label_sets(self) -> list[tuple[tuple[str, ...], dict[str, str]]]:
        """(path under alerting, labels) of every labels mapping, for checks that need the whole spec."""
        out: list[tuple[tuple[str, ...], dict[str, str]]] = [(("labels",), self.labels)]
        for key, metadata in (("pageAlert", self.page_alert), ("ticketAlert", self.ticket_alert)):
            if metadata is not None:
                out.append(((key, "labels"), metadata.labels))
        return out


class ObjectiveAlerting(_AlertLabels):
    """One objective's alerts (Sloth's SLO alerting block), over spec.alerting."""

    name: AlertName | None = None


# SLIs whose value is a ratio: bounds outside 0..1 are almost always a percentage typed by mistake.
_RATIO_KINDS = ("latencyRatio", "errorRatio", "promqlRatio")
# SLIs whose check value carries a confidence interval (sloguard/intervals.py): the ones `decideOn` can judge.
_INTERVAL_KINDS = ("latency", "latencyRatio", "errorRatio")


class Objective(_Model):
    name: ObjectiveName
    description: str = ""
    sli: SLI
    by: list[LabelName] = Field(default_factory=list)
    objective: Bound
    warning: Bound | None = None
    key: bool = False
    weight: Annotated[float, Field(gt=0)] = 1.0
    min_events: Count | None = None
    no_data: NoDataMode | None = None
    decide_on: Literal["estimate", "confidence"] | None = None
    labels: dict[RuleLabelName, str] = Field(default_factory=dict)
    alerting: ObjectiveAlerting | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Objective:
        seen: set[str] = set()
        for index, label in enumerate(self.by):
            if label in seen:
                raise FieldError(("by", index), f"{show(label)} is listed twice")
            seen.add(label)
        kind = self.sli.kind()
        bounds = [("objective", self.objective)] + ([("warning", self.warning)] if self.warning else [])
        if kind in _RATIO_KINDS:
            for where, bound in bounds:
                for side in ("min", "max"):
                    value = getattr(bound, side)
                    if value is not None and not 0 <= value <= 1:
                        raise FieldError(
                            (where, side), f"must be between 0 and 1: {kind} is a ratio (write 0.01 for 1 %)"
                        )
        if self.decide_on == "confidence" and kind not in _INTERVAL_KINDS:
            raise FieldError(("decideOn",), f"{kind} values carry no confidence interval; "
                             f"only {', '.join(_INTERVAL_KINDS)} can be judged on one")
        if self.warning is not None:
            self._check_warning(self.objective, self.warning)
        return self

    @staticmethod
    def _check_warning(objective: Bound, warning: Bound) -> None:
        """A warning bound sits inside the objective: crossing it comes before failing."""
        for side in ("min", "max"):
            warn, limit = getattr(warning, side), getattr(objective, side)
            if warn is None:
                continue
            if limit is None:
                raise FieldError(
                    ("warning", side),
                    f"objective has no {side}; a warning bound must tighten a side the objective sets",
                )
            if side == "max" and warn > limit:
                raise FieldError(
                    ("warning", side),
                    f"must be at most objective.max ({format_number(limit)}): a warning is stricter",
                )
            if side == "min" and warn < limit:
                raise FieldError(
                    ("warning", side),
                    f"must be at least objective.min ({format_number(limit)}): a warning is stricter",
                )


class Alerting(_AlertLabels):
    """Optional settings of `sloguard rules generate`; labels and annotations go on every alert."""

    # Burn-rate and latency alerts stay silent under this many events/s: a handful of requests
    # must not page (one error in two requests is a 50 % error ratio). 0 (the default, as in Sloth)
    # turns the guard off.
    min_request_rate: Annotated[float, Field(ge=0)] = 0.0
    runbook_url: str = ""
    dashboard_url: str = ""
    windows: str = ""
    # Service alerts beyond the SLOs' own (conventions.EXTRA_ALERTS); SARK's spec asks for all three.
    extra_alerts: list[Literal["rustFallbacks", "targetDown", "targetAbsent"]] = Field(default_factory=list)


class Spec(_Model):
    service: NonEmptyStr
    selector: dict[LabelName, str] = Field(default_factory=dict)
    no_data: NoDataMode = "fail"
    min_events: Count = 100
    # What a verdict is judged on: the value (estimate) or its 95 % confidence interval (docs/check.md).
    decide_on: Literal["estimate", "confidence"] = "estimate"
    scoring: Scoring | None = None
    alerting: Alerting | None = None
    # Defaults of "${name}" references in bounds; a load run's profile may override them.
    variables: dict[LabelName, float] = Field(default_factory=dict)
    objectives: Annotated[list[Objective], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> Spec:
        first: dict[str, int] = {}
        for index, objective in enumerate(self.objectives):
            if objective.name in first:
                raise FieldError(
                    ("objectives", index, "name"),
                    f"duplicate name {show(objective.name)}, already used by objectives[{first[objective.name]}]",
                )
            first[objective.name] = index
        return self

    @model_validator(mode="after")
    def _alert_labels_keep_alerts_apart(self) -> Spec:
        """An alert label that a series also carries would overwrite it, and two alerts would become one."""
        telling_apart: dict[str, str] = {}
        for index, objective in enumerate(self.objectives):
            for label in objective.by:
                telling_apart.setdefault(label, f"objectives[{index}] groups by it")
        if self.alerting is not None and self.alerting.extra_alerts:
            for label in SERVICE_ALERT_LABELS:
                telling_apart.setdefault(label, "the service alerts' series carry it")
        blocks: list[tuple[tuple[str | int, ...], _AlertLabels]] = []
        if self.alerting is not None:
            blocks.append((("alerting",), self.alerting))
        blocks += [(("objectives", i, "alerting"), o.alerting) for i, o in enumerate(self.objectives) if o.alerting]
        for where, block in blocks:
            for path, labels in block.label_sets():
                for label in labels:
                    if label in telling_apart:
                        raise FieldError(
                            (*where, *path, label),
                            f"{show(label)} tells one alert from another ({telling_apart[label]}); "
                            "an alert label would merge them",
                        )
        return self

    @model_validator(mode="after")
    def _matchers_agree_with_the_selector(self) -> Spec:
        """A metric's matcher on a label spec.selector pins can only repeat the pin or contradict it."""
        for index, objective in enumerate(self.objectives):
            for path, selector in sli_fields(_sli(objective.sli)):
                for matcher in selector.matchers if isinstance(selector, model.MetricSelector) else ():
                    pinned = self.selector.get(matcher.label)
                    if pinned is None or (matcher.op == "=" and matcher.value == pinned):
                        continue
                    raise FieldError(
                        ("objectives", index, "sli", *path),
                        f"spec.selector already sets {matcher.label}={show(pinned)}; a {matcher.label} matcher "
                        "here would match nothing or repeat it: drop it, or move the label out of spec.selector",
                    )
        return self

    @model_validator(mode="after")
    def _target_alerts_need_a_selector(self) -> Spec:
        """up == 0 with no selector would page on every target Prometheus scrapes, not this service's."""
        asked = set(self.alerting.extra_alerts) if self.alerting is not None else set()
        for name in (EXTRA_ALERT_TARGET_DOWN, EXTRA_ALERT_TARGET_ABSENT):
            if name in asked and not self.selector:
                raise FieldError(
                    ("alerting", "extraAlerts"),
                    f"{name} needs spec.selector (e.g. {{job: {self.service}}}): without it, it alerts on every "
                    "target Prometheus scrapes",
                )
        return self


class Document(_Model):
    """A whole sloguard/v1 file."""

    api_version: Annotated[str, AfterValidator(check_api_version)]
    kind: Annotated[str, AfterValidator(check_kind)]
    metadata: Metadata
    spec: Spec


# ---- conversion to the internal model ---------------------------------------------------------


def to_model(doc: Document, source: str = "") -> model.SLOSet:
    """The internal model of a validated v1 document; `source` is kept for messages."""
    spec = doc.spec
    return model.SLOSet(
        name=doc.metadata.name,
        service=spec.service,
        objectives=tuple(_objective(objective) for objective in spec.objectives),
        selector=tuple(model.Matcher(label=label, op="=", value=value) for label, value in spec.selector.items()),
        no_data=model.NoData(spec.no_data),
        decide_on=model.DecideOn(spec.decide_on),
        min_events=spec.min_events,
        scoring=None if spec.scoring is None else model.Scoring(spec.scoring.pass_, spec.scoring.warning),
        source=source,
        labels=dict(doc.metadata.labels),
        alerting=_alerting(spec.alerting),
    )


def _alerting(alerting: Alerting | None) -> model.Alerting:
    if alerting is None:
        return model.Alerting()
    return model.Alerting(
        min_request_rate=float(alerting.min_request_rate),
        runbook_url=alerting.runbook_url,
        dashboard_url=alerting.dashboard_url.rstrip("/"),
        windows=alerting.windows,
        common=model.AlertMetadata(labels=dict(alerting.labels), annotations=dict(alerting.annotations)),
        page=_alert_metadata(alerting.page_alert),
        ticket=_alert_metadata(alerting.ticket_alert),
        extra_alerts=tuple(name for name in EXTRA_ALERTS if name in alerting.extra_alerts),
    )


def _objective_alerting(alerting: ObjectiveAlerting | None) -> model.ObjectiveAlerting:
    if alerting is None:
        return model.ObjectiveAlerting()
    return model.ObjectiveAlerting(
        name=alerting.name or "",
        common=model.AlertMetadata(labels=dict(alerting.labels), annotations=dict(alerting.annotations)),
        page=_alert_metadata(alerting.page_alert),
        ticket=_alert_metadata(alerting.ticket_alert),
    )


def _alert_metadata(metadata: AlertMetadata | None) -> model.AlertMetadata:
    if metadata is None:
        return model.AlertMetadata()
    return model.AlertMetadata(labels=dict(metadata.labels), annotations=dict(metadata.annotations),
                               disable=metadata.disable)


def _objective(objective: Objective) -> model.Objective:
    return model.Objective(
        name=objective.name,
        sli=_sli(objective.sli),
        objective=_bound(objective.objective),
        warning=None if objective.warning is None else _bound(objective.warning),
        by=tuple(objective.by),
        key=objective.key,
        weight=float(objective.weight),
        description=objective.description,
        min_events=objective.min_events,
        no_data=None if objective.no_data is None else model.NoData(objective.no_data),
        decide_on=None if objective.decide_on is None else model.DecideOn(objective.decide_on),
        labels=dict(objective.labels),
        alerting=_objective_alerting(objective.alerting),
    )


def _bound(bound: Bound) -> model.Bound:
    return model.Bound(
        min=None if bound.min is None else float(bound.min),
        max=None if bound.max is None else float(bound.max),
    )


def _sli(sli: SLI) -> model.SLI:
    if sli.latency is not None:
        return model.LatencySLI(histogram=parse_selector(sli.latency.metric), quantile=float(sli.latency.quantile))
    if sli.latency_ratio is not None:
        return model.LatencyRatioSLI(histogram=parse_selector(sli.latency_ratio.metric),
                                     threshold=float(sli.latency_ratio.threshold))
    if sli.error_ratio is not None:
        return model.ErrorRatioSLI(
            errors=parse_selector(sli.error_ratio.errors), total=parse_selector(sli.error_ratio.total)
        )
    if sli.throughput is not None:
        return model.ThroughputSLI(metric=parse_selector(sli.throughput.metric))
    if sli.memory_growth is not None:
        return model.MemoryGrowthSLI(
            metric=parse_selector(sli.memory_growth.metric), per_seconds=parse_duration(sli.memory_growth.per)
        )
    if sli.promql is not None:
        return model.PromQLSLI(query=sli.promql.query)
    if sli.promql_ratio is not None:
        ratio = sli.promql_ratio
        return model.PromQLRatioSLI(
            error_query=ratio.error_query or "", good_query=ratio.good_query or "",
            total_query=ratio.total_query or "", error_ratio_query=ratio.error_ratio_query or "",
        )
    raise AssertionError("SLI validated with no kind")  # the SLI validator makes this unreachable


def sli_fields(sli: model.SLI) -> list[tuple[tuple[str, str], model.MetricSelector | str]]:
    """Each selector or query of a model SLI and where it was written: (kind, field) below `sli`."""
    match sli:
        case model.LatencySLI():
            return [(("latency", "metric"), sli.histogram)]
        case model.LatencyRatioSLI():
            return [(("latencyRatio", "metric"), sli.histogram)]
        case model.ErrorRatioSLI():
            return [(("errorRatio", "errors"), sli.errors), (("errorRatio", "total"), sli.total)]
        case model.ThroughputSLI():
            return [(("throughput", "metric"), sli.metric)]
        case model.MemoryGrowthSLI():
            return [(("memoryGrowth", "metric"), sli.metric)]
        case model.PromQLSLI():
            return [(("promql", "query"), sli.query)]
        case model.PromQLRatioSLI():
            queries = {"errorQuery": sli.error_query, "goodQuery": sli.good_query, "totalQuery": sli.total_query,
                       "errorRatioQuery": sli.error_ratio_query}
            return [(("promqlRatio", key), query) for key, query in queries.items() if query]
    raise TypeError(f"unknown SLI kind {type(sli).__name__}")
