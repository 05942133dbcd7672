"""OpenSLO specs (openslo/v1alpha as Sloth reads it, and openslo/v1) as one sloguard/v1 spec.

A ratio of two plain selectors is a ratio of counters (errorRatio, or latencyRatio for a
histogram's bucket over its count); a query that says where its window goes ({{.window}} or
{{window}}) is kept verbatim as promqlRatio; any other query cannot be read over a window and
is refused. Threshold metrics become promql SLIs bounded by the objective's op and value.
"""

from __future__ import annotations

from typing import Any

from sloguard import promql
from sloguard.errors import UsageError
from sloguard.importers import queries
from sloguard.importers.documents import (
    Document,
    ImportedSpec,
    budget,
    mapping,
    number,
    objective_name,
    read_documents,
    sequence,
    spec_text,
    text,
)
from sloguard.importers.formats import (
    OPENSLO_DATA_SOURCE,
    OPENSLO_OCCURRENCES,
    OPENSLO_PROMETHEUS,
    OPENSLO_PROMQL,
    OPENSLO_ROLLING_DAYS,
    OPENSLO_SERVICE,
    OPENSLO_SLI,
    OPENSLO_SLO,
    OPENSLO_V1,
    OPENSLO_V1ALPHA,
    SLOTH_PERIOD_DAYS,
)
from sloguard.spec.model import WINDOW_PLACEHOLDER, Matcher, MetricSelector

# OpenSLO's op names what a good value is: lt/lte -> values at most `value` are good.
_THRESHOLD_SIDES = {"lt": "max", "lte": "max", "gt": "min", "gte": "min"}


def import_openslo(source_text: str, source: str = "<openslo>") -> ImportedSpec:
    """The SLOs of an OpenSLO file (v1alpha or v1; SLI, DataSource and Service documents beside them)."""
    docs = read_documents(source_text, source)
    for doc in docs:
        if doc.data.get("apiVersion") not in (OPENSLO_V1, OPENSLO_V1ALPHA):
            raise UsageError(f"{doc.where}: apiVersion {doc.data.get('apiVersion')!r} is neither {OPENSLO_V1} nor "
                             f"{OPENSLO_V1ALPHA}")
    named = _named_documents(docs)
    objectives: list[dict[str, Any]] = []
    services: dict[str, str] = {}
    warnings: list[str] = []
    for doc in docs:
        kind = doc.data.get("kind")
        if kind == OPENSLO_SLO:
            spec = mapping(doc.data.get("spec"), f"{doc.where}: spec")
            services.setdefault(text(spec.get("service"), f"{doc.where}: spec.service", required=True), doc.where)
            if doc.data["apiVersion"] == OPENSLO_V1ALPHA:
                objectives += _v1alpha_objectives(doc, spec, warnings)
            else:
                objectives += _v1_objectives(doc, spec, named, warnings)
        elif kind not in (OPENSLO_SLI, OPENSLO_DATA_SOURCE, OPENSLO_SERVICE):
            warnings.append(f"{doc.where}: kind {kind!r} is not imported (sloguard generates its own alerts)")
    if len(services) > 1:
        raise UsageError(f"{source}: SLOs of several services ({', '.join(services)}); a sloguard spec is one "
                         "service: import them one file at a time")
    if not services:
        raise UsageError(f"{source}: no SLO document (kind: {OPENSLO_SLO}) to import")
    service = next(iter(services))
    _check_unique(objectives, source)
    text_out = spec_text(objective_name(service), service, objectives, source=source,
                         header=f"Imported from OpenSLO {source} by `sloguard import openslo`.")
    return ImportedSpec(service, text_out, tuple(warnings))


def _named_documents(docs: list[Document]) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, metadata.name) -> spec of the SLI and DataSource documents that SLOs may refer to."""
    out = {}
    for doc in docs:
        kind = doc.data.get("kind")
        if kind in (OPENSLO_SLI, OPENSLO_DATA_SOURCE):
            name = text(mapping(doc.data.get("metadata"), f"{doc.where}: metadata").get("name"),
                        f"{doc.where}: metadata.name", required=True)
            out[(str(kind), name)] = mapping(doc.data.get("spec"), f"{doc.where}: spec")
    return out


def _check_unique(objectives: list[dict[str, Any]], source: str) -> None:
    seen: set[str] = set()
    for objective in objectives:
        if objective["name"] in seen:
            raise UsageError(f"{source}: two objectives are named {objective['name']!r}; rename one SLO")
        seen.add(objective["name"])


def _budgeting(spec: dict[str, Any], where: str) -> None:
    method = spec.get("budgetingMethod")
    if method is not None and method != OPENSLO_OCCURRENCES:
        raise UsageError(f"{where}: budgetingMethod {method!r} cannot be imported: sloguard and Sloth count "
                         f"events ({OPENSLO_OCCURRENCES}), not time slices")


# ---- openslo/v1alpha (as Sloth's loader reads it) ---------------------------------------------


def _v1alpha_objectives(doc: Document, spec: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    where = doc.where
    _budgeting(spec, f"{where}: spec")
    windows = sequence(spec.get("timeWindows"), f"{where}: spec.timeWindows")
    if len(windows) > 1:
        raise UsageError(f"{where}: spec.timeWindows: only one time window can be imported")
    for window in windows:
        window = mapping(window, f"{where}: spec.timeWindows[0]")
        count, unit = window.get("count"), str(window.get("unit", "")).lower()
        if count != SLOTH_PERIOD_DAYS or unit != "day" or window.get("isRolling") is False or window.get("calendar"):
            shown = f"{count} {window.get('unit')}" + ("" if window.get("isRolling") is not False else ", calendar")
            raise UsageError(f"{where}: spec.timeWindows: only a rolling {SLOTH_PERIOD_DAYS}-day window can be "
                             f"imported (the period sloguard's rules use), got {shown}")
    name = _metadata_name(doc)
    description = text(spec.get("description"), f"{where}: spec.description")
    threshold = mapping(mapping(spec.get("indicator"), f"{where}: spec.indicator").get("thresholdMetric"),
                        f"{where}: spec.indicator.thresholdMetric")
    out = []
    disabled = False
    for index, at, target in _targets(spec, where):
        objective: dict[str, Any] = {"name": objective_name(f"{name}-{index}")}  # Sloth's <name>-<index>
        if description:
            objective["description"] = description
        if target.get("ratioMetrics") is not None:
            ratio = mapping(target["ratioMetrics"], f"{at}.ratioMetrics")
            good = _v1alpha_query(ratio.get("good"), f"{at}.ratioMetrics.good")
            total = _v1alpha_query(ratio.get("total"), f"{at}.ratioMetrics.total")
            objective.update(_ratio("good", good, total, _target(target, at), at))
            # Sloth's loader generates no alerts for OpenSLO: both severities are disabled, as there.
            objective["alerting"] = {"pageAlert": {"disable": True}, "ticketAlert": {"disable": True}}
            disabled = True
        elif threshold:
            objective.update(_threshold(_v1alpha_query(threshold, f"{where}: spec.indicator.thresholdMetric"),
                                        target, at))
        else:
            raise UsageError(f"{at}: neither ratioMetrics nor spec.indicator.thresholdMetric: nothing to measure")
        out.append(objective)
    if disabled:
        warnings.append(f"{where}: the ratio objectives' alerts are disabled, as Sloth disables them for OpenSLO; "
                        "remove objectives[].alerting to alert")
    return out


def _metadata_name(doc: Document) -> str:
    return text(mapping(doc.data.get("metadata"), f"{doc.where}: metadata").get("name"), f"{doc.where}: metadata.name",
                required=True)


def _targets(spec: dict[str, Any], where: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(index, where, objective) of every entry of spec.objectives, which must not be empty."""
    targets = sequence(spec.get("objectives"), f"{where}: spec.objectives")
    if not targets:
        raise UsageError(f"{where}: spec.objectives is empty")
    out = []
    for index, target in enumerate(targets):
        at = f"{where}: spec.objectives[{index}]"
        out.append((index, at, mapping(target, at)))
    return out


def _v1alpha_query(value: Any, where: str) -> str:
    metric = mapping(value, where)
    if str(metric.get("source", "")).lower() not in (OPENSLO_PROMETHEUS, "sloth"):
        raise UsageError(f"{where}: source {metric.get('source')!r} is not Prometheus")
    if str(metric.get("queryType", "")).lower() != OPENSLO_PROMQL:
        raise UsageError(f"{where}: queryType {metric.get('queryType')!r} is not {OPENSLO_PROMQL}")
    return text(metric.get("query"), f"{where}.query", required=True).strip()


# ---- openslo/v1 -------------------------------------------------------------------------------


def _v1_objectives(doc: Document, spec: dict[str, Any], named: dict[tuple[str, str], dict[str, Any]],
                   warnings: list[str]) -> list[dict[str, Any]]:
    where = doc.where
    _budgeting(spec, f"{where}: spec")
    for index, window in enumerate(sequence(spec.get("timeWindow"), f"{where}: spec.timeWindow")):
        window = mapping(window, f"{where}: spec.timeWindow[{index}]")
        if window.get("duration") != OPENSLO_ROLLING_DAYS or window.get("isRolling") is not True:
            shown = f"{window.get('duration')}" + ("" if window.get("isRolling") is True else ", calendar")
            raise UsageError(f"{where}: spec.timeWindow[{index}]: only a rolling {OPENSLO_ROLLING_DAYS} window can "
                             f"be imported (the period sloguard's rules use), got {shown}")
    if spec.get("alertPolicies"):
        warnings.append(f"{where}: spec.alertPolicies are not imported (sloguard generates its own alerts)")
    name = _metadata_name(doc)
    sli = _v1_indicator(spec, named, where)
    out = []
    targets = _targets(spec, where)
    for index, at, target in targets:
        if target.get("indicator") is not None or target.get("indicatorRef") is not None:
            raise UsageError(f"{at}: an indicator per objective (a composite SLO) cannot be imported")
        if target.get("timeSliceTarget") is not None:
            raise UsageError(f"{at}: timeSliceTarget cannot be imported: sloguard counts events, not time slices")
        suffix = "" if len(targets) == 1 else f"-{text(target.get('displayName'), f'{at}.displayName') or index}"
        objective: dict[str, Any] = {"name": objective_name(name + suffix)}
        description = text(spec.get("description"), f"{where}: spec.description")
        if description:
            objective["description"] = description
        objective.update(_v1_objective(sli, target, named, at))
        out.append(objective)
    return out


def _v1_indicator(spec: dict[str, Any], named: dict[tuple[str, str], dict[str, Any]], where: str) -> dict[str, Any]:
    if spec.get("indicator") is not None:
        return mapping(mapping(spec["indicator"], f"{where}: spec.indicator").get("spec"), f"{where}: spec.indicator")
    ref = spec.get("indicatorRef")
    if (OPENSLO_SLI, ref) not in named:
        raise UsageError(f"{where}: spec has no indicator and no SLI document is named {ref!r}")
    return named[(OPENSLO_SLI, str(ref))]


def _v1_objective(sli: dict[str, Any], target: dict[str, Any], named: dict[tuple[str, str], dict[str, Any]],
                  where: str) -> dict[str, Any]:
    if sli.get("ratioMetric") is not None:
        ratio = mapping(sli["ratioMetric"], f"{where}: ratioMetric")
        goal = _target(target, where)
        if ratio.get("raw") is not None:
            return _raw(ratio, goal, named, where)
        sides = [side for side in ("bad", "good") if ratio.get(side) is not None]
        if len(sides) != 1 or ratio.get("total") is None:
            raise UsageError(f"{where}: ratioMetric needs good or bad beside total, or raw")
        part = _v1_query(ratio[sides[0]], named, f"{where}: ratioMetric.{sides[0]}")
        total = _v1_query(ratio["total"], named, f"{where}: ratioMetric.total")
        return _ratio(sides[0], part, total, goal, where)
    if sli.get("thresholdMetric") is not None:
        return _threshold(_v1_query(sli["thresholdMetric"], named, f"{where}: thresholdMetric"), target, where)
    raise UsageError(f"{where}: only ratioMetric and thresholdMetric indicators can be imported")


def _v1_query(value: Any, named: dict[tuple[str, str], dict[str, Any]], where: str) -> str:
    metric = mapping(mapping(value, where).get("metricSource"), f"{where}.metricSource")
    kind = metric.get("type")
    ref = metric.get("metricSourceRef")
    if kind is None and ref is not None:
        kind = named.get((OPENSLO_DATA_SOURCE, str(ref)), {}).get("type")
    if str(kind).lower() != OPENSLO_PROMETHEUS:
        raise UsageError(f"{where}: metricSource type {kind!r} is not Prometheus: only PromQL can be imported")
    return text(mapping(metric.get("spec"), f"{where}.metricSource.spec").get("query"),
                f"{where}.metricSource.spec.query", required=True).strip()


def _raw(ratio: dict[str, Any], goal: float, named: dict[tuple[str, str], dict[str, Any]],
         where: str) -> dict[str, Any]:
    """A ratio given whole: rawType failure is the error ratio; success is its complement, 1 - (query)."""
    query = _v1_query(ratio["raw"], named, f"{where}: ratioMetric.raw")
    raw_type = ratio.get("rawType")
    if raw_type not in ("success", "failure"):
        raise UsageError(f"{where}: ratioMetric.rawType must be success or failure, got {raw_type!r}")
    if not queries.has_window(query):
        raise UsageError(f"{where}: ratioMetric.raw: {query!r} cannot be windowed: say where the window goes "
                         f"with {WINDOW_PLACEHOLDER}")
    error_ratio = queries.from_sloth(query)
    if raw_type == "success":
        error_ratio = promql.complement(promql.parenthesised(error_ratio))
    return {"sli": {"promqlRatio": {"errorRatioQuery": error_ratio}}, "objective": {"max": budget(goal)}}


# ---- shared by both versions ------------------------------------------------------------------


def _target(target: dict[str, Any], where: str) -> float:
    if target.get("targetPercent") is not None:
        goal = number(target["targetPercent"], f"{where}.targetPercent") / 100
    else:
        goal = number(target.get("target"), f"{where}.target")
    if not 0 < goal <= 1:
        raise UsageError(f"{where}: a ratio objective needs a target over 0 and at most 1, got {goal:g}")
    return goal


def _ratio(side: str, part: str, total: str, goal: float, where: str) -> dict[str, Any]:
    """good|bad over total: counters when both are selectors, else the windowed queries themselves."""
    bound = {"max": budget(goal)} if side == "bad" else {"min": goal}
    part_selector, total_selector = queries.plain_selector(part), queries.plain_selector(total)
    if part_selector and total_selector:
        if side == "bad":
            return {"sli": {"errorRatio": {"errors": part, "total": total}}, "objective": bound}
        latency = _latency_ratio(part_selector, total_selector)
        if latency is not None:
            return {"sli": {"latencyRatio": latency}, "objective": bound}
    key = "errorQuery" if side == "bad" else "goodQuery"
    sli = {key: _windowed(part, f"{where}: ratioMetric.{side}"), "totalQuery": _windowed(total, f"{where}: total")}
    return {"sli": {"promqlRatio": sli}, "objective": bound}


def _windowed(query: str, where: str) -> str:
    """A query with its window: a selector is a counter's rate, a query with a placeholder is kept."""
    selector = queries.plain_selector(query)
    if selector is not None:
        return promql.counter_rate_by(selector.metric, selector.matchers, (), WINDOW_PLACEHOLDER)
    if queries.has_window(query):
        return queries.from_sloth(query)
    raise UsageError(f"{where}: {query!r} cannot be windowed: give a counter selector, or say where the window "
                     f"goes with {WINDOW_PLACEHOLDER}")


def _latency_ratio(good: MetricSelector, total: MetricSelector) -> dict[str, Any] | None:
    """good = h_bucket{le="T",M}, total = h_count{M}: the latencyRatio of histogram h{M} at threshold T.

    The other matchers M must be the same on both sides (in any order), or good and total count
    different observations and the ratio is no histogram's.
    """
    base = good.metric.removesuffix("_bucket")
    if not good.metric.endswith("_bucket") or total.metric != f"{base}_count":
        return None
    le = [m for m in good.matchers if m.label == "le"]
    others = [m for m in good.matchers if m.label != "le"]
    if len(le) != 1 or set(others) != set(total.matchers) or len(others) != len(total.matchers):
        return None
    threshold = _bucket_bound(le[0])
    if threshold is None:
        return None
    return {"metric": promql.selector_text(MetricSelector(base, total.matchers)), "threshold": threshold}


def _bucket_bound(le: Matcher) -> float | None:
    """The bound an le matcher picks: le="T", or the regex of T's spellings that sloguard writes (le=~"1\\.0|1")."""
    first = le.value.split("|")[0].replace("\\", "") if le.op == "=~" else le.value
    try:
        bound = float(first)
    except ValueError:
        return None
    return bound if le.op == "=" or promql.le_matcher(bound) == le else None


def _threshold(query: str, target: dict[str, Any], where: str) -> dict[str, Any]:
    op, value = target.get("op"), target.get("value")
    side = _THRESHOLD_SIDES.get(str(op))
    if side is None:
        raise UsageError(f"{where}: op {op!r} must be one of lt, lte, gt, gte")
    limit = number(value, f"{where}.value")
    if queries.has_window(query):
        query = queries.from_sloth(query)
    return {"sli": {"promql": {"query": query}}, "objective": {side: limit}}
