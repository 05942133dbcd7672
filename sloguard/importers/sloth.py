"""Sloth specs (prometheus/v1 and the PrometheusServiceLevel CRD) as sloguard/v1 specs, one per service.

Everything the Sloth spec says is kept: service and SLO labels, objectives, descriptions and
the alerting block. A plain `sum(rate(SEL[{{.window}}]))` ratio becomes errorRatio (grouped
with `by` when both sides group alike); every other events or raw SLI becomes promqlRatio with
its queries kept, so the rules compute what Sloth's compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sloguard.errors import UsageError
from sloguard.importers import queries
from sloguard.importers.documents import (
    Document,
    ImportedSpec,
    budget,
    flag,
    mapping,
    number,
    objective_name,
    read_documents,
    sequence,
    spec_text,
    string_map,
    text,
    warn_unknown,
)
from sloguard.importers.formats import SLOTH_K8S_API_VERSION, SLOTH_K8S_KEYS, SLOTH_K8S_KIND, SLOTH_VERSION
from sloguard.promql import selector_text

_SPEC_KEYS = ("version", "service", "labels", "slos", "slo_plugins")
_SLO_KEYS = ("name", "description", "objective", "labels", "sli", "alerting", "plugins")
_ALERTING_KEYS = ("name", "labels", "annotations", "page_alert", "ticket_alert")
_ALERT_KEYS = ("disable", "labels", "annotations")


@dataclass
class _Service:
    """What the documents of one service add up to."""

    name: str
    labels: dict[str, str]
    where: str  # the first document that named the service
    objectives: list[dict[str, Any]] = field(default_factory=list)
    slo_names: dict[str, str] = field(default_factory=dict)  # sloguard name -> Sloth name
    warnings: list[str] = field(default_factory=list)


def import_sloth(source_text: str, source: str = "<sloth>") -> list[ImportedSpec]:
    """Every service of a Sloth file (one or more documents, plain or CRD) as a sloguard spec, in file order."""
    services: dict[str, _Service] = {}
    for doc in read_documents(source_text, source):
        name, spec, warnings = _plain_spec(doc)
        service = text(spec.get("service"), f"{doc.where}: service", required=True)
        labels = string_map(spec.get("labels"), f"{doc.where}: labels")
        known = services.get(service)
        if known is None:
            known = services[service] = _Service(name or service, labels, doc.where)
        elif known.labels != labels:
            raise UsageError(
                f"{doc.where}: service {service!r} has labels {labels} but {known.where} gave it {known.labels}; "
                "documents of one service must agree on its labels"
            )
        known.warnings += warnings
        _check_no_plugins(spec.get("slo_plugins"), f"{doc.where}: slo_plugins")
        slos = sequence(spec.get("slos"), f"{doc.where}: slos")
        if not slos:
            raise UsageError(f"{doc.where}: no SLO found to import (slos is empty)")
        for index, slo in enumerate(slos):
            known.objectives.append(_objective(slo, f"{doc.where}: slos[{index}]", known))
    return [
        ImportedSpec(
            service=service,
            text=spec_text(
                objective_name(known.name), service, known.objectives, labels=known.labels, source=source,
                header=f"Imported from Sloth {source} by `sloguard import sloth`.",
            ),
            warnings=tuple(known.warnings),
        )
        for service, known in services.items()
    ]


def _plain_spec(doc: Document) -> tuple[str, dict[str, Any], list[str]]:
    """(metadata name or "", the spec in prometheus/v1 form, warnings) of a plain or a CRD document."""
    data = doc.data
    warnings: list[str] = []
    if data.get("version") == SLOTH_VERSION:
        warn_unknown(data, _SPEC_KEYS, doc.where, warnings)
        return "", data, warnings
    if data.get("apiVersion") == SLOTH_K8S_API_VERSION and data.get("kind") == SLOTH_K8S_KIND:
        metadata = mapping(data.get("metadata"), f"{doc.where}: metadata")
        if metadata.get("namespace"):
            warnings.append(f"{doc.where}: metadata.namespace {metadata['namespace']!r} is not kept: "
                            "a sloguard spec has no namespace")
        spec = _snake_case(mapping(data.get("spec"), f"{doc.where}: spec"))
        warn_unknown(spec, _SPEC_KEYS[1:], f"{doc.where}: spec", warnings)
        return text(metadata.get("name"), f"{doc.where}: metadata.name"), spec, warnings
    if "version" in data:
        raise UsageError(f"{doc.where}: version {data['version']!r} is not {SLOTH_VERSION}")
    raise UsageError(
        f"{doc.where}: neither a Sloth spec (version: {SLOTH_VERSION}) nor a Sloth CRD "
        f"(apiVersion: {SLOTH_K8S_API_VERSION}, kind: {SLOTH_K8S_KIND})"
    )


def _snake_case(value: Any) -> Any:
    """The CRD's camelCase field names as the plain spec spells them (labels and annotations are left alone)."""
    if isinstance(value, list):
        return [_snake_case(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        SLOTH_K8S_KEYS.get(key, key): item if key in ("labels", "annotations", "options") else _snake_case(item)
        for key, item in value.items()
    }


def _check_no_plugins(plugins: Any, where: str) -> None:
    chain = sequence(mapping(plugins, where).get("chain"), f"{where}.chain")
    if chain:
        ids = ", ".join(repr(mapping(p, where).get("id")) for p in chain)
        raise UsageError(f"{where}: SLO plugins ({ids}) cannot be imported: they are Go code that changes "
                         "Sloth's generated rules, and sloguard cannot run them")


def _objective(value: Any, where: str, service: _Service) -> dict[str, Any]:
    slo = mapping(value, where)
    sloth_name = text(slo.get("name"), f"{where}.name", required=True)
    where = f"{where} ({sloth_name})"
    warn_unknown(slo, _SLO_KEYS, where, service.warnings)
    name = objective_name(sloth_name)
    if name in service.slo_names:
        raise UsageError(f"{where}: name {sloth_name!r} is already used by SLO {service.slo_names[name]!r} of "
                         f"service {service.name!r} (as sloguard objective {name!r})")
    service.slo_names[name] = sloth_name
    if name != sloth_name:
        service.warnings.append(
            f"{where}: named {name!r}: sloguard names are lowercase letters, digits and '-', so sloth_slo and "
            "sloth_id differ from Sloth's"
        )
    _check_no_plugins(slo.get("plugins"), f"{where}: plugins")
    percent = number(slo.get("objective"), f"{where}.objective")
    if not 0 < percent <= 100:
        raise UsageError(f"{where}.objective: must be a percentage over 0 and at most 100, got {percent:g}")
    objective: dict[str, Any] = {"name": name}
    description = text(slo.get("description"), f"{where}.description")
    if description:
        objective["description"] = description
    labels = string_map(slo.get("labels"), f"{where}.labels")
    if labels:
        objective["labels"] = labels
    sli, by = _sli(mapping(slo.get("sli"), f"{where}.sli"), f"{where}.sli")
    objective["sli"] = sli
    if by:
        objective["by"] = list(by)
    objective["objective"] = {"max": budget(percent / 100)}
    alerting = _alerting(mapping(slo.get("alerting"), f"{where}.alerting"), f"{where}.alerting", service.warnings)
    if alerting:
        objective["alerting"] = alerting
    return objective


def _sli(sli: dict[str, Any], where: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The sloguard SLI and its `by` labels."""
    kinds = [kind for kind in ("events", "raw", "plugin") if sli.get(kind) is not None]
    if len(kinds) != 1:
        raise UsageError(f"{where}: set exactly one of events, raw or plugin")
    if kinds[0] == "plugin":
        plugin = mapping(sli["plugin"], f"{where}.plugin")
        raise UsageError(f"{where}.plugin: SLI plugin {plugin.get('id')!r} cannot be imported: its query is made "
                         "by Go code that sloguard cannot run; write its query as a raw SLI")
    if kinds[0] == "raw":
        raw = mapping(sli["raw"], f"{where}.raw")
        return {"promqlRatio": {"errorRatioQuery": _query(raw, "error_ratio_query", f"{where}.raw")}}, ()
    events = mapping(sli["events"], f"{where}.events")
    error_query = _query(events, "error_query", f"{where}.events")
    total_query = _query(events, "total_query", f"{where}.events")
    errors, total = queries.counter_sum(error_query), queries.counter_sum(total_query)
    if errors and total and errors.function == total.function and set(errors.by) == set(total.by):
        return {"errorRatio": {"errors": selector_text(errors.selector), "total": selector_text(total.selector)}}, \
            errors.by
    return {"promqlRatio": {"errorQuery": error_query, "totalQuery": total_query}}, ()


def _query(parent: dict[str, Any], key: str, where: str) -> str:
    query = text(parent.get(key), f"{where}.{key}", required=True)
    if not queries.has_window(query):
        raise UsageError(f"{where}.{key}: has no {{{{.window}}}}; Sloth and sloguard need it to read each window")
    return queries.from_sloth(query)


def _alerting(alerting: dict[str, Any], where: str, warnings: list[str]) -> dict[str, Any]:
    """Sloth's SLO alerting block as the objective's (same meaning; camelCase keys)."""
    warn_unknown(alerting, _ALERTING_KEYS, where, warnings)
    out: dict[str, Any] = {}
    name = text(alerting.get("name"), f"{where}.name")
    if name:
        out["name"] = name
    out.update(_metadata(alerting, where))
    for key, ours in (("page_alert", "pageAlert"), ("ticket_alert", "ticketAlert")):
        alert = mapping(alerting.get(key), f"{where}.{key}")
        warn_unknown(alert, _ALERT_KEYS, f"{where}.{key}", warnings)
        block = _metadata(alert, f"{where}.{key}")
        if flag(alert.get("disable"), f"{where}.{key}.disable"):
            block["disable"] = True
        if block:
            out[ours] = block
    return out


def _metadata(block: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("labels", "annotations"):
        values = string_map(block.get(key), f"{where}.{key}")
        if values:
            out[key] = values
    return out
