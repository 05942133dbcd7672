"""Import OpenSLO (openslo/v1) and Sloth (prometheus/v1) specs as a sloguard/v1 spec.

Each importer maps what has an exact sloguard equivalent (a ratio of two Prometheus
selectors becomes errorRatio or latencyRatio) and keeps anything else as a `promql`
SLI, so the imported SLO means the same thing. The result is validated by the v1
loader before it is returned.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from sloguard import promql
from sloguard.conventions import API_VERSION, SPEC_KIND
from sloguard.errors import UsageError
from sloguard.numbers import format_number
from sloguard.spec.loader import load_spec_text
from sloguard.spec.model import WINDOW_PLACEHOLDER
from sloguard.spec.selector import parse_selector

OPENSLO_VERSION = "openslo/v1"
SLOTH_VERSION = "prometheus/v1"
# sum(rate(SELECTOR[{{.window}}])) as Sloth's examples write event queries.
_SLOTH_EVENTS = re.compile(
    r"^\s*sum\s*(?:by\s*\((?P<by>[a-zA-Z0-9_,\s]*)\)\s*)?"  # sum or sum by (labels)
    r"\(\s*(?:rate|increase)\s*\(\s*(?P<sel>.+?)\s*\[\s*\{\{\s*\.window\s*\}\}\s*\]\s*\)\s*\)\s*$",
    re.DOTALL,
)
_SLOTH_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")


def _name(text: str) -> str:
    """A sloguard objective name: lowercase letters, digits and '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name or "objective"


def _selector(query: str) -> str | None:
    """The query when it is a plain selector such as m{a="b"}, else None."""
    try:
        parse_selector(query.strip())
    except ValueError:
        return None
    return query.strip()


def _documents(text: str, source: str) -> list[dict[str, Any]]:
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: invalid YAML: {exc}".replace("\n", " ")) from None
    if not docs or not all(isinstance(doc, dict) for doc in docs):
        raise UsageError(f"{source}: expected one or more YAML mappings")
    return docs


def _finish(name: str, service: str, objectives: list[dict[str, Any]], source: str, origin: str,
            labels: dict[str, str] | None = None) -> str:
    """The sloguard/v1 document as YAML text, checked by the loader."""
    if not objectives:
        raise UsageError(f"{source}: no SLO found to import")
    doc = {
        "apiVersion": API_VERSION,
        "kind": SPEC_KIND,
        "metadata": {"name": _name(name), **({"labels": labels} if labels else {})},
        "spec": {"service": service, "objectives": objectives},
    }
    text = f"# Imported from {origin} {source} by `sloguard import`.\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=100000
    )
    load_spec_text(text, source=f"{source} (imported)")  # raises SpecError if the mapping went wrong
    return text


# ---- OpenSLO ----------------------------------------------------------------------------------


def import_openslo(text: str, source: str = "<openslo>") -> str:
    """OpenSLO v1 SLO documents (with inline or referenced SLI documents) as a sloguard spec."""
    docs = _documents(text, source)
    for doc in docs:
        if doc.get("apiVersion") != OPENSLO_VERSION:
            raise UsageError(f"{source}: apiVersion {doc.get('apiVersion')!r} is not {OPENSLO_VERSION}")
    slis = {d["metadata"]["name"]: d["spec"] for d in docs if d.get("kind") == "SLI" and "metadata" in d}
    slos = [d for d in docs if d.get("kind") == "SLO"]
    objectives: list[dict[str, Any]] = []
    services = set()
    for slo in slos:
        meta, spec = slo.get("metadata", {}), slo.get("spec", {})
        name = str(meta.get("name", "slo"))
        services.add(str(spec.get("service", name)))
        indicator = spec.get("indicator")
        if indicator is not None:
            sli_spec = indicator.get("spec", {})
        elif spec.get("indicatorRef") in slis:
            sli_spec = slis[spec["indicatorRef"]]
        else:
            raise UsageError(f"{source}: SLO {name}: no indicator and no SLI named {spec.get('indicatorRef')!r}")
        targets = spec.get("objectives") or []
        for index, target in enumerate(targets):
            suffix = "" if len(targets) == 1 else f"-{_name(str(target.get('displayName', index)))}"
            objective: dict[str, Any] = {"name": _name(name) + suffix}
            if spec.get("description"):
                objective["description"] = str(spec["description"])
            objective.update(_openslo_objective(sli_spec, target, f"{source}: SLO {name}"))
            objectives.append(objective)
    if len(services) > 1:
        raise UsageError(f"{source}: SLOs of several services ({', '.join(sorted(services))}); import one at a time")
    service = services.pop() if services else "service"
    return _finish(service, service, objectives, source, "OpenSLO")


def _prometheus_query(source: dict[str, Any] | None, where: str) -> str:
    metric = (source or {}).get("metricSource", {})
    kind = str(metric.get("type", "")).lower()
    if kind != "prometheus":
        raise UsageError(f"{where}: metricSource type {metric.get('type')!r} is not Prometheus")
    query = (metric.get("spec") or {}).get("query")
    if not isinstance(query, str) or not query.strip():
        raise UsageError(f"{where}: metricSource has no query")
    return query.strip()


def _openslo_objective(sli: dict[str, Any], target: dict[str, Any], where: str) -> dict[str, Any]:
    if "ratioMetric" in sli:
        ratio = sli["ratioMetric"]
        goal = target.get("target")
        if not isinstance(goal, int | float) or not 0 < goal < 1:
            raise UsageError(f"{where}: a ratio objective needs a target between 0 and 1")
        total = _prometheus_query(ratio.get("total"), where)
        if "bad" in ratio:
            bad = _prometheus_query(ratio["bad"], where)
            if _selector(bad) and _selector(total):
                return {"sli": {"errorRatio": {"errors": bad, "total": total}},
                        "objective": {"max": float(format_number(1 - goal))}}
            expr = promql.windowed_ratio(promql.parenthesised(bad), promql.parenthesised(total))
            return _promql_ratio(expr, goal, bad=True)
        good = _prometheus_query(ratio.get("good"), where)
        latency = _latency_ratio(good, total)
        if latency is not None:
            return {"sli": {"latencyRatio": latency}, "objective": {"min": goal}}
        if _selector(good) and _selector(total):
            return _promql_ratio(promql.windowed_ratio(good, total), goal, bad=False)
        raise UsageError(f"{where}: only Prometheus selectors can be imported as ratio queries")
    if "thresholdMetric" in sli:
        query = _prometheus_query(sli["thresholdMetric"], where)
        op, value = target.get("op"), target.get("value")
        if not isinstance(value, int | float):
            raise UsageError(f"{where}: a threshold objective needs a numeric value")
        # OpenSLO's op says what a good value is: lt/lte -> at most value.
        side = {"lt": "max", "lte": "max", "gt": "min", "gte": "min"}.get(str(op))
        if side is None:
            raise UsageError(f"{where}: op {op!r} must be one of lt, lte, gt, gte")
        return {"sli": {"promql": {"query": query}}, "objective": {side: value}}
    raise UsageError(f"{where}: only ratioMetric and thresholdMetric indicators can be imported")


def _latency_ratio(good: str, total: str) -> dict[str, Any] | None:
    """good = h_bucket{le="T"}, total = h_count: the latencyRatio of histogram h at threshold T."""
    if not (_selector(good) and _selector(total)):
        return None
    good_sel, total_sel = parse_selector(good), parse_selector(total)
    if not (good_sel.metric.endswith("_bucket") and total_sel.metric.endswith("_count")):
        return None
    base = good_sel.metric.removesuffix("_bucket")
    le = [m for m in good_sel.matchers if m.label == "le" and m.op == "="]
    others = [m for m in good_sel.matchers if m.label != "le"]
    if base != total_sel.metric.removesuffix("_count") or len(le) != 1 or others or total_sel.matchers:
        return None
    try:
        threshold = float(le[0].value)
    except ValueError:
        return None
    return {"metric": base, "threshold": threshold}


def _promql_ratio(expr: str, goal: float, *, bad: bool) -> dict[str, Any]:
    if bad:
        return {"sli": {"promql": {"query": expr}}, "objective": {"max": float(format_number(1 - goal))}}
    return {"sli": {"promql": {"query": expr}}, "objective": {"min": goal}}


# ---- Sloth ------------------------------------------------------------------------------------


def import_sloth(text: str, source: str = "<sloth>") -> str:
    """A Sloth prometheus/v1 spec (events or raw SLIs) as a sloguard spec."""
    docs = _documents(text, source)
    if len(docs) != 1:
        raise UsageError(f"{source}: a Sloth spec is one YAML document")
    doc = docs[0]
    if doc.get("version") != SLOTH_VERSION:
        raise UsageError(f"{source}: version {doc.get('version')!r} is not {SLOTH_VERSION}")
    service = str(doc.get("service") or "")
    if not service:
        raise UsageError(f"{source}: service is required")
    objectives = []
    for slo in doc.get("slos") or []:
        name = str(slo.get("name", ""))
        where = f"{source}: slo {name}"
        goal = slo.get("objective")
        if not isinstance(goal, int | float) or not 0 < goal < 100:
            raise UsageError(f"{where}: objective must be a percentage between 0 and 100")
        budget = float(format_number((100 - goal) / 100))
        objective: dict[str, Any] = {"name": _name(name)}
        if slo.get("description"):
            objective["description"] = str(slo["description"])
        sli, by = _sloth_sli(slo.get("sli") or {}, where)
        objective["sli"] = sli
        if by:
            objective["by"] = by
        objective["objective"] = {"max": budget}
        objectives.append(objective)
    labels = {str(k): str(v) for k, v in (doc.get("labels") or {}).items()}
    return _finish(service, service, objectives, source, "Sloth", labels)


def _sloth_sli(sli: dict[str, Any], where: str) -> tuple[dict[str, Any], list[str]]:
    """The sloguard SLI and its `by` labels."""
    if "events" in sli:
        events = sli["events"]
        error_query, total_query = str(events.get("error_query", "")), str(events.get("total_query", ""))
        errors, total = _SLOTH_EVENTS.match(error_query), _SLOTH_EVENTS.match(total_query)
        if errors and total and _selector(errors["sel"]) and _selector(total["sel"]):
            by = [label.strip() for label in (errors["by"] or "").split(",") if label.strip()]
            total_by = [label.strip() for label in (total["by"] or "").split(",") if label.strip()]
            if by == total_by:
                return {"errorRatio": {"errors": errors["sel"], "total": total["sel"]}}, by
        return {"promql": {"query": promql.quotient(_window(error_query), _window(total_query))}}, []
    if "raw" in sli:
        return {"promql": {"query": _window(str(sli["raw"].get("error_ratio_query", "")))}}, []
    raise UsageError(f"{where}: only events and raw SLIs can be imported (plugins have no PromQL to read)")


def _window(query: str) -> str:
    """Sloth's {{.window}} is sloguard's {{window}}; line breaks fold to spaces."""
    return _SLOTH_WINDOW.sub(WINDOW_PLACEHOLDER, " ".join(query.split()))
