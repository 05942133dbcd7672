"""Prometheus recording and alert rules from the spec, Sloth-style.

The pipeline reads top to bottom, one small step per stage:
validate -> SLI recording rules -> metadata rules -> alert rules -> service alerts -> file.

Ratio SLOs (errorRatio with a max, latencyRatio with a min) get Sloth's recording rules
and multi-window multi-burn-rate alerts from a versioned windows file; every other SLI
gets a value rule and a threshold alert. Rule names and labels are Sloth's, so Sloth's
Grafana dashboards keep working on sloguard's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sloguard import __version__, generated, promql
from sloguard import conventions as c
from sloguard.errors import SpecError, UsageError
from sloguard.numbers import format_number
from sloguard.spec.model import (
    AlertMetadata,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    Objective,
    PromQLRatioSLI,
    SLOSet,
)
from sloguard.spec.windows import Duration, Windows

# ---- the model of the output --------------------------------------------------------------------


@dataclass
class Rule:
    """One recording or alert rule; `probes` are the parts of an alert that must return data when healthy."""

    record: str = ""
    alert: str = ""
    expr: str = ""
    for_: Duration | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    probes: list[str] = field(default_factory=list)

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record} if self.record else {"alert": self.alert}
        out["expr"] = self.expr
        if self.for_ is not None and self.for_.seconds > 0:
            out["for"] = self.for_
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass
class Group:
    name: str
    rules: list[Rule]


@dataclass
class RuleSet:
    """Everything generated for one spec."""

    service: str
    windows: Windows
    groups: list[Group]

    def rules(self) -> list[Rule]:
        return [rule for group in self.groups for rule in group.rules]


# ---- the pipeline ------------------------------------------------------------------------------


def generate(slo_set: SLOSet, windows: Windows) -> RuleSet:
    """The whole rule set of a spec: validate, then per objective SLI, metadata and alert rules."""
    validate(slo_set, windows)
    groups: list[Group] = []
    for objective in slo_set.objectives:
        # One group per objective: Prometheus evaluates a group's rules in order at one timestamp,
        # so an alert always reads the ratios recorded in the same evaluation, never a step late.
        name = f"sloguard-{slo_labels(slo_set, objective)[c.LABEL_SLO_ID]}"
        if is_budget_objective(objective):
            rules = sli_recording_rules(slo_set, objective, windows)
            rules += metadata_rules(slo_set, objective, windows)
            rules += burn_rate_alerts(slo_set, objective, windows)
        else:
            rules = value_recording_rules(slo_set, objective, windows)
            rules += threshold_alerts(slo_set, objective, windows)
        groups.append(Group(name, rules))
    extra = service_alerts(slo_set, windows)
    if extra:
        groups.append(Group(f"sloguard-{slo_set.service}-service-alerts", extra))
    return RuleSet(slo_set.service, windows, groups)


def validate(slo_set: SLOSet, windows: Windows) -> None:
    """What the schema cannot see: a burn-rate SLO must leave some error budget."""
    for objective in slo_set.objectives:
        if is_budget_objective(objective) and not 0 < error_budget(objective) < 1:
            raise SpecError(
                f"{slo_set.source or 'spec'}: objectives {objective.name}: a target of "
                f"{format_number(target_ratio(objective))} leaves no error budget to alert on"
            )
    if not windows.page and not windows.ticket:
        raise UsageError(f"{windows.source}: no page nor ticket windows")


def counts_bad_events(objective: Objective) -> bool:
    """A ratio SLI whose value is the share of bad events (bounded by a max), not of good ones."""
    sli = objective.sli
    return isinstance(sli, ErrorRatioSLI) or (isinstance(sli, PromQLRatioSLI) and not sli.counts_good)


def is_budget_objective(objective: Objective) -> bool:
    """Ratio SLOs with an error budget: bad events at most X, or good events at least Y."""
    sli, bound = objective.sli, objective.objective
    if not isinstance(sli, ErrorRatioSLI | LatencyRatioSLI | PromQLRatioSLI):
        return False
    if counts_bad_events(objective):
        return bound.max is not None and bound.min is None
    return bound.min is not None and bound.max is None


def target_ratio(objective: Objective) -> float:
    """The share of good events the SLO promises (Sloth's objective, as a ratio)."""
    bound = objective.objective
    if counts_bad_events(objective):
        assert bound.max is not None
        return _clean(1 - bound.max)
    assert bound.min is not None
    return _clean(bound.min)


def error_budget(objective: Objective) -> float:
    return _clean(1 - target_ratio(objective))


def _clean(value: float) -> float:
    """Round away binary noise (1 - 0.99 = 0.010000000000000009) so thresholds print as decimals."""
    return float(f"{value:.12g}")


def slo_labels(slo_set: SLOSet, objective: Objective) -> dict[str, str]:
    return {
        c.LABEL_SLO_ID: f"{slo_set.service}-{objective.name}",
        c.LABEL_SLO_SERVICE: slo_set.service,
        c.LABEL_SLO_NAME: objective.name,
    }


def rule_labels(slo_set: SLOSet, objective: Objective) -> dict[str, str]:
    """The labels of an objective's recording rules: its ids, then the spec's and its own (Sloth's order)."""
    return {**slo_labels(slo_set, objective), **slo_set.labels, **objective.labels}


def _id_selector(metric: str, ids: dict[str, str]) -> str:
    return promql.slo_series(metric, ids[c.LABEL_SLO_ID])


def sli_recording_rules(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Rule]:
    """slo:sli_error:ratio_rate<w> for every window, the period as Sloth computes it, and event rates."""
    ids, labels = slo_labels(slo_set, objective), rule_labels(slo_set, objective)
    rules = [
        Rule(
            record=c.RULE_SLI_ERROR.format(window=w),
            expr=promql.sli_error_ratio(slo_set, objective, w),
            labels={**labels, c.LABEL_SLO_WINDOW: w},
        )
        for w in windows.ratio_windows()
    ]
    shortest = windows.ratio_windows()[0]
    rules.append(
        Rule(
            record=c.RULE_SLI_ERROR.format(window=windows.period),
            expr=promql.period_average(_id_selector(c.RULE_SLI_ERROR.format(window=shortest), ids), windows.period),
            labels={**labels, c.LABEL_SLO_WINDOW: windows.period},
        )
    )
    rules += _event_rules(slo_set, objective, windows.short_windows())
    return rules


def _event_rules(slo_set: SLOSet, objective: Objective, event_windows: list[Duration]) -> list[Rule]:
    """Event rates behind the low-traffic guard; none when the spec sets no minimum rate."""
    if slo_set.alerting.min_request_rate <= 0:
        return []
    labels = rule_labels(slo_set, objective)
    rules = []
    for w in event_windows:
        expr = promql.sli_events_rate(slo_set, objective, w)
        if expr is not None:
            rules.append(Rule(record=c.RULE_SLI_EVENTS.format(window=w), expr=expr,
                              labels={**labels, c.LABEL_SLO_WINDOW: w}))
    return rules


def metadata_rules(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Rule]:
    """Sloth's metadata: objective, budget, burn rates, budget remaining, period and info."""
    ids, labels = slo_labels(slo_set, objective), rule_labels(slo_set, objective)
    match = [c.LABEL_SLO_ID, c.LABEL_SLO_NAME, c.LABEL_SLO_SERVICE]
    budget = _id_selector(c.RULE_ERROR_BUDGET, ids)
    shortest = windows.ratio_windows()[0]
    period_days = windows.period.seconds / 86400
    return [
        Rule(record=c.RULE_OBJECTIVE, expr=promql.constant(target_ratio(objective)), labels=dict(labels)),
        Rule(record=c.RULE_ERROR_BUDGET, expr=promql.constant(error_budget(objective)), labels=dict(labels)),
        Rule(record=c.RULE_TIME_PERIOD, expr=promql.constant(_clean(period_days)), labels=dict(labels)),
        Rule(
            record=c.RULE_CURRENT_BURN,
            expr=promql.divide_on(_id_selector(c.RULE_SLI_ERROR.format(window=shortest), ids), budget, match),
            labels=dict(labels),
        ),
        Rule(
            record=c.RULE_PERIOD_BURN,
            expr=promql.divide_on(_id_selector(c.RULE_SLI_ERROR.format(window=windows.period), ids), budget, match),
            labels=dict(labels),
        ),
        Rule(
            record=c.RULE_PERIOD_BUDGET_REMAINING,
            expr=promql.complement(_id_selector(c.RULE_PERIOD_BURN, ids)),
            labels=dict(labels),
        ),
        Rule(
            record=c.RULE_SLO_INFO,
            expr=promql.constant(1),
            labels={**labels, **info_labels(objective)},
        ),
    ]


def info_labels(objective: Objective) -> dict[str, str]:
    """sloth_slo_info's own labels, as Sloth writes them; the spec and version are sloguard's."""
    return {
        c.LABEL_SLO_MODE: c.SLOTH_MODE,
        c.LABEL_SLO_OBJECTIVE: format_number(_clean(target_ratio(objective) * 100)),
        c.LABEL_SLO_SPEC: c.API_VERSION,
        c.LABEL_SLO_VERSION: f"sloguard-{__version__}",
    }


def burn_rate_alerts(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Rule]:
    """One alert per severity: any of its window pairs burning `factor` x the budget, with enough traffic."""
    ids = slo_labels(slo_set, objective)
    budget = error_budget(objective)
    rules = []
    for severity, pairs in windows.severities():
        if not pairs:
            continue
        conditions, probes = [], []
        for pair in pairs:
            long_sel = _id_selector(c.RULE_SLI_ERROR.format(window=pair.long), ids)
            short_sel = _id_selector(c.RULE_SLI_ERROR.format(window=pair.short), ids)
            threshold = _clean(pair.factor * budget)
            parts = [promql.compare(long_sel, ">", threshold), promql.compare(short_sel, ">", threshold)]
            probes += [long_sel, short_sel]
            guard = _guard(slo_set, objective, ids, pair.short)
            if guard is not None:
                parts.append(guard[0])
                probes.append(guard[1])
            # Without sloth_window, the alert keeps one identity whichever pair fires (as Sloth does).
            conditions.append(promql.both(*(promql.drop_labels("max", [c.LABEL_SLO_WINDOW], p) for p in parts)))
        rule = _alert(
            slo_set, objective, alert_name(objective, "BudgetBurn"), severity,
            expr=conditions[0] if len(conditions) == 1 else promql.either(*conditions),
            annotations=burn_rate_annotations(severity), probes=probes,
        )
        if rule is not None:
            rules.append(rule)
    return rules


def burn_rate_annotations(severity: str) -> dict[str, str]:
    """Sloth's own title and summary of a burn-rate alert, so imported alerts read as they did."""
    who = f"{{{{$labels.{c.LABEL_SLO_SERVICE}}}}} {{{{$labels.{c.LABEL_SLO_NAME}}}}}"
    return {
        "title": f"({severity}) {who} SLO error budget burn rate is too fast.",
        "summary": f"{who} SLO error budget burn rate is over expected.",
    }


def _guard(slo_set: SLOSet, objective: Objective, ids: dict[str, str], window: str) -> tuple[str, str] | None:
    """(condition, probe): the event rate over `window` is at least the spec's minimum request rate."""
    minimum = slo_set.alerting.min_request_rate
    if minimum <= 0 or promql.sli_events_rate(slo_set, objective, window) is None:
        return None
    events = _id_selector(c.RULE_SLI_EVENTS.format(window=window), ids)
    return promql.compare(events, ">=", minimum), events


def value_recording_rules(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Rule]:
    """The SLI value over the threshold window (memory growth: its longer window), and its event rate."""
    window = windows.value_window(objective.sli)
    rules = [
        Rule(
            record=c.RULE_SLI_VALUE.format(window=window),
            expr=promql.sli_value(slo_set, objective, window),
            labels={**rule_labels(slo_set, objective), c.LABEL_SLO_WINDOW: window},
        )
    ]
    if isinstance(objective.sli, LatencySLI):
        rules += _event_rules(slo_set, objective, [window])
    return rules


def threshold_alerts(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Rule]:
    """<Name>High above objective.max, <Name>Low under objective.min; key objectives page."""
    ids = slo_labels(slo_set, objective)
    window = windows.value_window(objective.sli)
    value = _id_selector(c.RULE_SLI_VALUE.format(window=window), ids)
    severity = c.SEVERITY_PAGE if objective.key else c.SEVERITY_TICKET
    guard = _guard(slo_set, objective, ids, window) if isinstance(objective.sli, LatencySLI) else None
    rules = []
    for side, op, suffix, words in (("max", ">", "High", "above"), ("min", "<", "Low", "below")):
        limit = getattr(objective.objective, side)
        if limit is None:
            continue
        condition = promql.compare(value, op, limit)
        probes = [value]
        if guard is not None:
            condition = promql.both(condition, guard[0], ignoring=[c.LABEL_SLO_WINDOW])
            probes.append(guard[1])
        rule = _alert(
            slo_set, objective, alert_name(objective, suffix), severity, expr=condition,
            annotations={
                "summary": f"{objective.name}{_by_text(objective)} is {words} {format_number(limit)}",
                "description": f"Value {{{{ $value | humanize }}}} over {window}; objective {side} "
                               f"{format_number(limit)}.",
            },
            probes=probes, for_=windows.value_for(objective.sli),
        )
        if rule is not None:
            rules.append(rule)
    return rules


def service_alerts(slo_set: SLOSet, windows: Windows) -> list[Rule]:
    """The alerts spec.alerting.extraAlerts asks for: Rust-to-Python fallbacks, scrape target down or absent."""
    prefix = _camel(slo_set.service)
    fallbacks = promql.counter_rate_by(
        c.FALLBACKS, slo_set.selector, (c.LABEL_FEATURE, c.LABEL_ERROR_TYPE), windows.threshold_window
    )
    up = promql.series("up", slo_set.selector)
    candidates = {
        c.EXTRA_ALERT_FALLBACKS: lambda: _alert(
            slo_set, None, f"{prefix}RustFallbacks", c.SEVERITY_TICKET, expr=promql.compare(fallbacks, ">", 0),
            annotations={
                "summary": "The Rust path of {{ $labels.feature }} falls back to Python ({{ $labels.error_type }})",
                "description": f"{{{{ $value | humanize }}}} fallbacks/s over {windows.threshold_window}: "
                               "the Rust path is failing.",
            },
            probes=[fallbacks], for_=windows.threshold_for,
        ),
        c.EXTRA_ALERT_TARGET_DOWN: lambda: _alert(
            slo_set, None, f"{prefix}TargetDown", c.SEVERITY_PAGE, expr=promql.compare(up, "==", 0),
            annotations={"summary": "{{ $labels.instance }} is down",
                         "description": f"Prometheus cannot scrape {up}."},
            probes=[up], for_=windows.target_for,
        ),
        c.EXTRA_ALERT_TARGET_ABSENT: lambda: _alert(
            slo_set, None, f"{prefix}TargetAbsent", c.SEVERITY_PAGE, expr=promql.absent_series(up),
            annotations={"summary": f"No {slo_set.service} target is scraped",
                         "description": f"{up} is absent: no target is configured or discovered."},
            probes=[up], for_=windows.target_for,
        ),
    }
    rules = [candidates[name]() for name in slo_set.alerting.extra_alerts]
    return [rule for rule in rules if rule is not None]


def _alert(slo_set: SLOSet, objective: Objective | None, name: str, severity: str, *, expr: str,
           annotations: dict[str, str], probes: list[str], for_: Duration | None = None) -> Rule | None:
    """An alert of one objective (None: of the whole service), or None when the spec disables its severity.

    An objective's alert carries no id labels of its own: its series do (as in Sloth). A service
    alert's series do not, so it names the service.
    """
    extra = alert_metadata(slo_set, objective, severity)
    if extra.disable:
        return None
    ids = {} if objective is not None else {c.LABEL_SLO_SERVICE: slo_set.service}
    return Rule(alert=name, expr=expr, for_=for_,
                labels={**ids, c.LABEL_SLOTH_SEVERITY: severity, **extra.labels},
                annotations={**annotations, **link_annotations(slo_set, objective), **extra.annotations}, probes=probes)


def alert_metadata(slo_set: SLOSet, objective: Objective | None, severity: str) -> AlertMetadata:
    """The labels and annotations the spec adds to one severity's alerts, and whether it disables them.

    Later wins: spec.alerting, its pageAlert/ticketAlert, the objective's alerting, its pageAlert/ticketAlert.
    """
    blocks = [slo_set.alerting.common, _of_severity(slo_set.alerting.page, slo_set.alerting.ticket, severity)]
    if objective is not None:
        own = objective.alerting
        blocks += [own.common, _of_severity(own.page, own.ticket, severity)]
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for block in blocks:
        labels.update(block.labels)
        annotations.update(block.annotations)
    return AlertMetadata(labels=labels, annotations=annotations, disable=any(block.disable for block in blocks))


def _of_severity(page: AlertMetadata, ticket: AlertMetadata, severity: str) -> AlertMetadata:
    return page if severity == c.SEVERITY_PAGE else ticket


def alert_name(objective: Objective, suffix: str) -> str:
    """The objective's alerting.name, else <CamelName><suffix>."""
    return objective.alerting.name or _camel(objective.name) + suffix


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-") if part)


def _by_text(objective: Objective) -> str:
    return "".join(f" {{{{ $labels.{label} }}}}" for label in objective.by)


def link_annotations(slo_set: SLOSet, objective: Objective | None) -> dict[str, str]:
    """runbook_url and dashboard annotations, when the spec gives their base URLs."""
    out = {}
    if slo_set.alerting.runbook_url:
        anchor = f"#{objective.name}" if objective is not None else ""
        out["runbook_url"] = slo_set.alerting.runbook_url + anchor
    if slo_set.alerting.dashboard_url:
        uid = generated.dashboard_uid(slo_set.service, generated.OVERVIEW)
        out["dashboard"] = f"{slo_set.alerting.dashboard_url}/d/{uid}"
    return out


# ---- the rules file ----------------------------------------------------------------------------


def header(slo_set: SLOSet, windows: Windows) -> str:
    return generated.header(
        f"Source: {generated.source_name(slo_set)} (service {slo_set.service}); "
        f"burn-rate windows: {windows.name} v{windows.version}.",
        "Regenerate with `sloguard rules generate`; `sloguard rules check` fails when this file drifts.",
    )


def render(slo_set: SLOSet, rule_set: RuleSet) -> str:
    """The rules file: the header, then Prometheus' groups document."""
    body = {"groups": [{"name": g.name, "rules": [r.to_yaml() for r in g.rules]} for g in rule_set.groups]}
    return header(slo_set, rule_set.windows) + generated.dump_yaml(body)


def output_files(slo_set: SLOSet, windows: Windows) -> dict[str, str]:
    """File name -> content of everything `rules generate` writes."""
    return {f"{slo_set.service}.rules.yml": render(slo_set, generate(slo_set, windows))}
