"""Export loaded sloguard specs as Sloth specs (prometheus/v1 or the CRD) or as OpenSLO v1 documents.

The way out mirrors the way in (sloguard.importers): a spec imported from Sloth exports back
to the same Sloth spec. What the target format cannot say is a one-line error naming the
objective, or with `skip_unsupported` a warning per objective left out; settings with no
place in the target are dropped with one warning each, and settings that have one (the
spec-wide alerting block, runbook and dashboard links) are merged into each SLO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sloguard import promql, rules
from sloguard.errors import UsageError
from sloguard.importers.documents import dump_documents
from sloguard.importers.formats import (
    OPENSLO_OCCURRENCES,
    OPENSLO_ROLLING_DAYS,
    OPENSLO_V1,
    SLOTH_K8S_API_VERSION,
    SLOTH_K8S_KEYS,
    SLOTH_K8S_KIND,
    SLOTH_VERSION,
    SLOTH_WINDOW,
)
from sloguard.numbers import format_number
from sloguard.spec.model import (
    WINDOW_PLACEHOLDER,
    Alerting,
    AlertMetadata,
    DecideOn,
    ErrorRatioSLI,
    LatencyRatioSLI,
    MetricSelector,
    NoData,
    Objective,
    PromQLRatioSLI,
    SLOSet,
)

_DEFAULTS = Alerting()
_DEFAULT_MIN_EVENTS = next(f.default for f in fields(SLOSet) if f.name == "min_events")
_CAMEL_CASE = {snake: camel for camel, snake in SLOTH_K8S_KEYS.items()}
# A threshold objective has no share of good events in sloguard; OpenSLO requires one.
OPENSLO_THRESHOLD_TARGET = 0.99
_KIND_NAMES = {
    "LatencySLI": "a latency SLI (a quantile)", "ThroughputSLI": "a throughput SLI",
    "MemoryGrowthSLI": "a memoryGrowth SLI", "PromQLSLI": "a promql SLI (a threshold on a query)",
}  # fmt: skip


@dataclass(frozen=True)
class Exported:
    """The exported documents as one YAML stream, and a warning line per thing left out."""

    text: str
    warnings: tuple[str, ...] = ()


@dataclass
class _Notes:
    """Warnings of one export, and whether an objective the format cannot express is an error."""

    skip_unsupported: bool
    warnings: list[str] = field(default_factory=list)

    def unsupported(self, where: str, why: str) -> None:
        if not self.skip_unsupported:
            raise UsageError(f"{where}: {why} (--skip-unsupported leaves it out)")
        self.warnings.append(f"{where}: skipped: {why}")


def export_sloth(slo_sets: Sequence[SLOSet], *, kubernetes: bool = False,
                 skip_unsupported: bool = False) -> Exported:
    """One Sloth document per spec: prometheus/v1, or PrometheusServiceLevel with `kubernetes`."""
    notes = _Notes(skip_unsupported)
    docs = [_sloth_document(slo_set, notes, kubernetes=kubernetes) for slo_set in slo_sets]
    return Exported(dump_documents(docs), tuple(notes.warnings))


def export_openslo(slo_sets: Sequence[SLOSet], *, skip_unsupported: bool = False) -> Exported:
    """openslo/v1: a Service document per spec, then an SLO document per objective."""
    notes = _Notes(skip_unsupported)
    docs = [doc for slo_set in slo_sets for doc in _openslo_documents(slo_set, notes)]
    return Exported(dump_documents(docs), tuple(notes.warnings))


def _where(slo_set: SLOSet, objective: Objective | None = None) -> str:
    spec = slo_set.source or f"spec {slo_set.name}"
    return f"{spec}: objective {objective.name}" if objective is not None else spec


def _supported(slo_set: SLOSet, objective: Objective, notes: _Notes, target: str) -> bool:
    """A ratio objective with an error budget, which both formats express; anything else is noted."""
    if rules.is_budget_objective(objective):
        return True
    kind = _KIND_NAMES.get(type(objective.sli).__name__)
    if kind is not None:
        why = f"{kind} has no {target} equivalent: {target} SLIs are ratios of events"
    else:
        why = f"its bound {_bound_text(objective)} is not a single target on a ratio, which {target} needs"
    notes.unsupported(_where(slo_set, objective), why)
    return False


def _bound_text(objective: Objective) -> str:
    sides = [f"{side} {format_number(value)}" for side in ("min", "max")
             if (value := getattr(objective.objective, side)) is not None]
    return "{" + ", ".join(sides) + "}"


def _dropped_settings(slo_set: SLOSet, notes: _Notes, target: str) -> None:
    """One warning per spec-wide setting the target format has no place for."""
    where, alerting = _where(slo_set), slo_set.alerting
    checks = [name for name, changed in (("minEvents", slo_set.min_events != _DEFAULT_MIN_EVENTS),
                                         ("noData", slo_set.no_data != NoData.FAIL),
                                         ("decideOn", slo_set.decide_on is not DecideOn.ESTIMATE),
                                         ("scoring", slo_set.scoring is not None)) if changed]
    if checks:
        notes.warnings.append(f"{where}: {', '.join(checks)}: sloguard check settings with no {target} "
                              "equivalent; dropped")
    if alerting.min_request_rate != _DEFAULTS.min_request_rate:
        notes.warnings.append(f"{where}: alerting.minRequestRate: {target} has no low-traffic guard (its alerts "
                              "fire at any traffic); dropped")
    if alerting.extra_alerts:
        notes.warnings.append(f"{where}: alerting.extraAlerts ({', '.join(alerting.extra_alerts)}): no {target} "
                              "equivalent; dropped")
    if alerting.windows:
        notes.warnings.append(f"{where}: alerting.windows {alerting.windows!r}: a {target} spec does not name its "
                              "burn-rate windows (Sloth takes them on its command line); dropped")


def _dropped_objective_settings(slo_set: SLOSet, objective: Objective, notes: _Notes, target: str) -> None:
    dropped = [name for name, changed in (
        ("warning bound", objective.warning is not None), ("key", objective.key), ("weight", objective.weight != 1.0),
        ("minEvents", objective.min_events is not None), ("noData", objective.no_data is not None),
        ("decideOn", objective.decide_on is not None),
    ) if changed]  # fmt: skip
    if dropped:
        notes.warnings.append(f"{_where(slo_set, objective)}: {', '.join(dropped)}: sloguard check settings with "
                              f"no {target} equivalent; dropped")


# ---- Sloth ------------------------------------------------------------------------------------


def _sloth_document(slo_set: SLOSet, notes: _Notes, *, kubernetes: bool) -> dict[str, Any]:
    _dropped_settings(slo_set, notes, "Sloth")
    slos = []
    for objective in slo_set.objectives:
        if _supported(slo_set, objective, notes, "Sloth"):
            _dropped_objective_settings(slo_set, objective, notes, "Sloth")
            slos.append(_sloth_slo(slo_set, objective))
    if not slos:
        raise UsageError(f"{_where(slo_set)}: no objective Sloth can express; nothing to export")
    spec: dict[str, Any] = {"service": slo_set.service}
    if slo_set.labels:
        spec["labels"] = dict(slo_set.labels)
    spec["slos"] = slos
    if not kubernetes:
        return {"version": SLOTH_VERSION, **spec}
    return {"apiVersion": SLOTH_K8S_API_VERSION, "kind": SLOTH_K8S_KIND, "metadata": {"name": slo_set.name},
            "spec": _camel_case(spec)}


def _camel_case(value: Any) -> Any:
    """The plain spec's field names as the CRD spells them (labels and annotations are left alone)."""
    if isinstance(value, list):
        return [_camel_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {_CAMEL_CASE.get(key, key): item if key in ("labels", "annotations") else _camel_case(item)
            for key, item in value.items()}


def _sloth_slo(slo_set: SLOSet, objective: Objective) -> dict[str, Any]:
    slo: dict[str, Any] = {"name": objective.name, "objective": _number(rules.target_ratio(objective) * 100)}
    if objective.description:
        slo["description"] = objective.description
    if objective.labels:
        slo["labels"] = dict(objective.labels)
    slo["sli"] = _sloth_sli(slo_set, objective)
    slo["alerting"] = _sloth_alerting(slo_set, objective)
    return slo


def _number(value: float) -> float | int:
    """A clean decimal (99.9, not 99.90000000000001); a whole number without .0, as people write them."""
    clean = float(format_number(value))
    return int(clean) if clean.is_integer() else clean


def _sloth_sli(slo_set: SLOSet, objective: Objective) -> dict[str, Any]:
    """events {error_query, total_query} or raw {error_ratio_query}, with Sloth's {{.window}}."""
    sli, base, by = objective.sli, slo_set.selector, objective.by
    if isinstance(sli, ErrorRatioSLI):
        return _events(_counter(sli.errors, base, by, SLOTH_WINDOW), _counter(sli.total, base, by, SLOTH_WINDOW))
    if isinstance(sli, LatencyRatioSLI):
        good, total = _latency_parts(sli, slo_set, objective, SLOTH_WINDOW)
        return _events(promql.parenthesised(promql.difference(total, good)), total)
    assert isinstance(sli, PromQLRatioSLI)  # _supported let only ratio SLIs through
    if sli.error_query:
        return _events(_sloth_query(sli.error_query), _sloth_query(sli.total_query))
    if sli.good_query:
        ratio = promql.complement(promql.parenthesised(promql.quotient(sli.good_query, sli.total_query)))
        return {"raw": {"error_ratio_query": _sloth_query(ratio)}}
    return {"raw": {"error_ratio_query": _sloth_query(sli.error_ratio_query)}}


def _events(error_query: str, total_query: str) -> dict[str, Any]:
    return {"events": {"error_query": error_query, "total_query": total_query}}


def _sloth_query(query: str) -> str:
    return query.replace(WINDOW_PLACEHOLDER, SLOTH_WINDOW)


def _counter(selector: MetricSelector, base: tuple[Any, ...], by: Sequence[str], window: str) -> str:
    """sum [by (...)] (rate(SEL[window])), the spec's selector merged into SEL as the rules merge it."""
    return promql.counter_rate_by(selector.metric, [*base, *selector.matchers], by, window)


def _latency_parts(sli: LatencyRatioSLI, slo_set: SLOSet, objective: Objective, window: str) -> tuple[str, str]:
    """(good, total): the rates of the histogram's bucket at the threshold and of its count."""
    base, histogram = slo_set.selector, sli.histogram
    good = promql.counter_rate_by(f"{histogram.metric}_bucket",
                                  [*base, *histogram.matchers, promql.le_matcher(sli.threshold)], objective.by, window)
    return good, promql.counter_rate_by(f"{histogram.metric}_count", [*base, *histogram.matchers], objective.by,
                                        window)


def _sloth_alerting(slo_set: SLOSet, objective: Objective) -> dict[str, Any]:
    """Sloth's two levels (alerting, then page/ticket) carrying sloguard's four, with the same result.

    sloguard merges spec.alerting < its page|ticket < objective.alerting < its page|ticket; Sloth
    merges alerting < page_alert|ticket_alert. So Sloth's alerting gets both common blocks, and a
    severity gets the spec-wide severity block less what the objective's common block overrides,
    then the objective's own severity block: merged, each alert reads exactly as sloguard's.
    """
    spec_wide, own = slo_set.alerting, objective.alerting
    out: dict[str, Any] = {}
    page = _severity(spec_wide.page, own.common, own.page)
    ticket = _severity(spec_wide.ticket, own.common, own.ticket)
    if own.name or not (page.get("disable") and ticket.get("disable")):
        out["name"] = rules.alert_name(objective, "BudgetBurn")
    labels = {**spec_wide.common.labels, **own.common.labels}
    # Under every other annotation, as the rules place them.
    links = rules.link_annotations(slo_set, objective)
    annotations = {**links, **spec_wide.common.annotations, **own.common.annotations}
    if labels:
        out["labels"] = labels
    if annotations:
        out["annotations"] = annotations
    if page:
        out["page_alert"] = page
    if ticket:
        out["ticket_alert"] = ticket
    return out


def _severity(spec_wide: AlertMetadata, own_common: AlertMetadata, own: AlertMetadata) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec_wide.disable or own.disable:
        out["disable"] = True
    for key in ("labels", "annotations"):
        common: dict[str, str] = getattr(own_common, key)
        values = {k: v for k, v in getattr(spec_wide, key).items() if k not in common}
        values.update(getattr(own, key))
        if values:
            out[key] = values
    return out


# ---- OpenSLO ----------------------------------------------------------------------------------


def _openslo_documents(slo_set: SLOSet, notes: _Notes) -> list[dict[str, Any]]:
    _dropped_settings(slo_set, notes, "OpenSLO")
    if slo_set.labels:
        notes.warnings.append(f"{_where(slo_set)}: metadata.labels: OpenSLO has no labels for recording rules; "
                              "dropped")
    if _has_alerting(slo_set):
        notes.warnings.append(f"{_where(slo_set)}: alerting: no OpenSLO alert policies are written; dropped")
    docs: list[dict[str, Any]] = [{"apiVersion": OPENSLO_V1, "kind": "Service",
                                   "metadata": {"name": slo_set.service}, "spec": {}}]
    for objective in slo_set.objectives:
        indicator, target = _openslo_indicator(slo_set, objective, notes)
        if indicator is None:
            continue
        _dropped_objective_settings(slo_set, objective, notes, "OpenSLO")
        if objective.labels:
            notes.warnings.append(f"{_where(slo_set, objective)}: labels: OpenSLO has no labels for recording "
                                  "rules; dropped")
        spec: dict[str, Any] = {}
        if objective.description:
            spec["description"] = objective.description
        spec.update({
            "service": slo_set.service,
            "indicator": {"metadata": {"name": f"{objective.name}-sli"}, "spec": indicator},
            "timeWindow": [{"duration": OPENSLO_ROLLING_DAYS, "isRolling": True}],
            "budgetingMethod": OPENSLO_OCCURRENCES,
            "objectives": target,
        })  # fmt: skip
        docs.append({"apiVersion": OPENSLO_V1, "kind": "SLO", "metadata": {"name": objective.name}, "spec": spec})
    if len(docs) == 1:
        raise UsageError(f"{_where(slo_set)}: no objective OpenSLO can express; nothing to export")
    return docs


def _has_alerting(slo_set: SLOSet) -> bool:
    spec_wide = slo_set.alerting
    blocks = [spec_wide.common, spec_wide.page, spec_wide.ticket]
    named = False
    for objective in slo_set.objectives:
        own = objective.alerting
        blocks += [own.common, own.page, own.ticket]
        named = named or bool(own.name)
    return named or bool(spec_wide.runbook_url or spec_wide.dashboard_url) or any(
        block.labels or block.annotations or block.disable for block in blocks
    )


def _openslo_indicator(slo_set: SLOSet, objective: Objective, notes: _Notes
                       ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the SLI's spec, the SLO's objectives), or (None, []) when the objective is left out."""
    sli = objective.sli
    if not rules.is_budget_objective(objective):
        if isinstance(sli, ErrorRatioSLI | LatencyRatioSLI | PromQLRatioSLI):
            _supported(slo_set, objective, notes, "OpenSLO")  # a ratio bounded oddly: noted there
            return None, []
        return _openslo_threshold(slo_set, objective, notes)
    target = [{"target": rules.target_ratio(objective)}]
    if isinstance(sli, ErrorRatioSLI):
        bad, total = _selector_or_query(slo_set, objective, sli.errors), _selector_or_query(slo_set, objective,
                                                                                             sli.total)
        return _ratio_metric("bad", bad, total), target
    if isinstance(sli, LatencyRatioSLI):
        if objective.by:
            good, total = _latency_parts(sli, slo_set, objective, WINDOW_PLACEHOLDER)
        else:
            base = slo_set.selector
            good = promql.histogram_series(sli.histogram, "_bucket", base, [promql.le_matcher(sli.threshold)])
            total = promql.histogram_series(sli.histogram, "_count", base)
        return _ratio_metric("good", good, total), target
    assert isinstance(sli, PromQLRatioSLI)
    if sli.error_ratio_query:
        return {"ratioMetric": {"counter": True, "raw": _metric_source(sli.error_ratio_query),
                                "rawType": "failure"}}, target
    if sli.good_query:
        return _ratio_metric("good", sli.good_query, sli.total_query), target
    return _ratio_metric("bad", sli.error_query, sli.total_query), target


def _selector_or_query(slo_set: SLOSet, objective: Objective, selector: MetricSelector) -> str:
    """The selector itself (a counter OpenSLO tools window), or with `by` a grouped windowed query."""
    if objective.by:
        return _counter(selector, slo_set.selector, objective.by, WINDOW_PLACEHOLDER)
    return promql.series(selector.metric, slo_set.selector, selector.matchers)


def _ratio_metric(side: str, part: str, total: str) -> dict[str, Any]:
    return {"ratioMetric": {"counter": True, side: _metric_source(part), "total": _metric_source(total)}}


def _metric_source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def _openslo_threshold(slo_set: SLOSet, objective: Objective, notes: _Notes
                       ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """thresholdMetric: the SLI's value query with {{window}} left in, bounded by op and value."""
    bound = objective.objective
    if bound.min is not None and bound.max is not None:
        notes.unsupported(_where(slo_set, objective), "a bound with both min and max has no single OpenSLO op")
        return None, []
    op, value = ("lte", bound.max) if bound.max is not None else ("gte", bound.min)
    notes.warnings.append(f"{_where(slo_set, objective)}: a threshold has no share of good events in sloguard; "
                          f"written with OpenSLO's required target {format_number(OPENSLO_THRESHOLD_TARGET)}")
    query = promql.sli_value(slo_set, objective, WINDOW_PLACEHOLDER)
    return {"thresholdMetric": _metric_source(query)}, [{"op": op, "value": value,
                                                         "target": OPENSLO_THRESHOLD_TARGET}]
