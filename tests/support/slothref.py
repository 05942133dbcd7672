"""An independent reference of the rules Sloth generates, written from Sloth's documented algorithm.

The golden tests hold sloguard's imported rules to this. It shares no code with sloguard on
purpose (a shared bug would agree with itself): it reads the Sloth file with plain PyYAML and
builds every string here. What it follows (Sloth v0.16, `sloth generate`, default 30d windows):

- loading: the file is split on lines starting with `---` after dropping lines starting with `#`;
  each document is `version: prometheus/v1`, a `sloth.slok.dev/v1` PrometheusServiceLevel or an
  `openslo/v1alpha` SLO. An SLO's id is `<service>-<name>`; its labels are the service labels,
  then the SLO's, then the command's extra labels (`--extra-labels`). OpenSLO objectives become
  SLOs named `<metadata.name>-<index>` with a raw error ratio `1 - (good / total)`, no alerts.
- SLI rules: `slo:sli_error:ratio_rate<w>` for every window of the four alert pairs, shortest
  first, then the period rule averaging the 5m rule; metadata rules; then one page and one ticket
  alert (multi-window, multi-burn-rate; no `for`), each dropped when its alert is disabled.
- numbers print as Go's `%g`/`%v` print a float64 (shortest round trip, exponent from 1e-5 and 1e6),
  so the thresholds are Sloth's `(100 - objective) / 100` with its binary noise, not decimals.

`prefix` renames every recorded metric (the records and their uses in expressions) and
`alert_labels` adds labels to every alert, so that this rule set and sloguard's can run side by
side in one `promtool test rules`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

# ---- Sloth's names ---------------------------------------------------------------------------

SLI_ERROR = "slo:sli_error:ratio_rate"
OBJECTIVE = "slo:objective:ratio"
ERROR_BUDGET = "slo:error_budget:ratio"
TIME_PERIOD = "slo:time_period:days"
CURRENT_BURN = "slo:current_burn_rate:ratio"
PERIOD_BURN = "slo:period_burn_rate:ratio"
BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"
SLO_INFO = "sloth_slo_info"
RECORDED = (OBJECTIVE, ERROR_BUDGET, TIME_PERIOD, CURRENT_BURN, PERIOD_BURN, BUDGET_REMAINING, SLO_INFO)

LABEL_ID = "sloth_id"
LABEL_SLO = "sloth_slo"
LABEL_SERVICE = "sloth_service"
LABEL_WINDOW = "sloth_window"
LABEL_SEVERITY = "sloth_severity"
INFO_LABELS = ("sloth_version", "sloth_mode", "sloth_spec", "sloth_objective")

GROUP_SLI = "sloth-slo-sli-recordings-"
GROUP_META = "sloth-slo-meta-recordings-"
GROUP_ALERTS = "sloth-slo-alerts-"

SLOTH_VERSION = "dev"  # what Sloth's own examples/_gen files say; real releases say e.g. v0.16.0
WINDOW_VARIABLE = re.compile(r"{{ *\.window *}}")

DAY = 86400


# ---- Go's formatting -------------------------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of a positive float and the position of its decimal point."""
    _, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return text, len(text) + exponent


def go_float(value: float) -> str:
    """A float64 as Go's fmt prints it with %v or %g: shortest digits, e-notation below 1e-4 or from 1e6."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return sign + _fixed(digits, point)


def go_fixed(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): shortest digits, never e-notation."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    return sign + _fixed(*_shortest_digits(abs(value)))


def _fixed(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def prom_duration(seconds: int) -> str:
    """prometheus/common model.Duration.String(): the largest units first, weeks and years only when exact."""
    if seconds == 0:
        return "0s"
    units = (("y", 365 * DAY, True), ("w", 7 * DAY, True), ("d", DAY, False), ("h", 3600, False),
             ("m", 60, False), ("s", 1, False))
    out, rest = "", seconds
    for unit, size, exact in units:
        if exact and rest % size:
            continue
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def go_quote(value: str) -> str:
    """strconv.Quote for the printable strings label values are."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def label_filter(labels: Mapping[str, str]) -> str:
    """model.LabelSet.String(): `{a="x", b="y"}`, names sorted."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


# ---- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertWindow:
    """One window pair: alert when both windows burn faster than the factor that spends `budget_percent`."""

    short: int
    long: int
    budget_percent: float

    def factor(self, period: int) -> float:
        # Sloth's order of operations: hours to spend the share of the budget, over the long window's hours.
        hours_to_spend = self.budget_percent * (period / 3600) / 100
        return hours_to_spend / (self.long / 3600)


@dataclass(frozen=True)
class AlertWindows:
    """Sloth's embedded google-30d.yaml: page 2 % in 1h (5m short) or 5 % in 6h (30m); ticket 10 % in 1d or 3d."""

    period: int = 30 * DAY
    page_quick: AlertWindow = AlertWindow(5 * 60, 3600, 2)
    page_slow: AlertWindow = AlertWindow(30 * 60, 6 * 3600, 5)
    ticket_quick: AlertWindow = AlertWindow(2 * 3600, DAY, 10)
    ticket_slow: AlertWindow = AlertWindow(6 * 3600, 3 * DAY, 10)

    def windows(self) -> list[int]:
        pairs = (self.page_quick, self.page_slow, self.ticket_quick, self.ticket_slow)
        return sorted({w for pair in pairs for w in (pair.short, pair.long)})


@dataclass
class AlertMeta:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class SLO:
    """Sloth's model.PromSLO, as far as rule generation reads it."""

    service: str
    name: str
    objective: float  # percent
    labels: dict[str, str]
    error_query: str = ""
    total_query: str = ""
    error_ratio_query: str = ""
    page: AlertMeta | None = None
    ticket: AlertMeta | None = None
    info: dict[str, str] = field(default_factory=dict)  # sloth_version, sloth_mode, sloth_spec
    period: int = 30 * DAY

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    def ids(self) -> dict[str, str]:
        return {LABEL_ID: self.id, LABEL_SERVICE: self.service, LABEL_SLO: self.name}


# ---- loading -----------------------------------------------------------------------------------


def split_documents(text: str) -> list[str]:
    """Sloth's SplitYAML: trim, drop lines starting with '#', split at lines starting with '---'."""
    cleaned = re.sub(r"(?m)^#.*$", "", text.strip())
    return [part.strip() for part in re.split(r"(?m)^---", cleaned) if part.strip()]


_PROMETHEUS_V1 = re.compile(r"""(?m)^version: +['"]?prometheus/v1['"]?\r?\n? *$""")
_K8S_KIND = re.compile(r"""(?m)^kind: +['"]?PrometheusServiceLevel['"]? *$""")
_K8S_API = re.compile(r"""(?m)^apiVersion: +['"]?sloth.slok.dev/v1['"]? *$""")
_OPENSLO_KIND = re.compile(r"""(?m)^kind: +['"]?SLO['"]? *$""")
_OPENSLO_API = re.compile(r"""(?m)^apiVersion: +['"]?openslo/v1alpha['"]? *$""")


def load(text: str, extra_labels: Mapping[str, str] | None = None) -> list[SLO]:
    """Every SLO of a Sloth file, in order, with the command's extra labels over their own."""
    slos: list[SLO] = []
    for document in split_documents(text):
        doc = yaml.safe_load(document)
        if _PROMETHEUS_V1.search(document):
            slos += _sloth_slos(doc, keys=_SNAKE, info={"sloth_mode": "cli-gen-prom", "sloth_spec": "prometheus/v1"})
        elif _K8S_KIND.search(document) and _K8S_API.search(document):
            slos += _sloth_slos(doc["spec"], keys=_CAMEL,
                                info={"sloth_mode": "cli-gen-k8s", "sloth_spec": "sloth.slok.dev/v1"})
        elif _OPENSLO_KIND.search(document) and _OPENSLO_API.search(document):
            slos += _openslo_slos(doc)
        else:
            raise ValueError("not a Sloth prometheus/v1, sloth.slok.dev/v1 or openslo/v1alpha document")
    ids = [slo.id for slo in slos]
    if len(set(ids)) != len(ids):
        raise ValueError(f"repeated SLO ids: {ids}")
    for slo in slos:
        slo.labels = {**slo.labels, **(extra_labels or {})}
        slo.info["sloth_version"] = SLOTH_VERSION
    return slos


# The two Sloth dialects differ only in key spelling (the CRD is camelCase).
_SNAKE = {"error_query": "error_query", "total_query": "total_query", "error_ratio_query": "error_ratio_query",
          "page_alert": "page_alert", "ticket_alert": "ticket_alert"}
_CAMEL = {"error_query": "errorQuery", "total_query": "totalQuery", "error_ratio_query": "errorRatioQuery",
          "page_alert": "pageAlert", "ticket_alert": "ticketAlert"}


def _sloth_slos(spec: dict[str, Any], *, keys: Mapping[str, str], info: Mapping[str, str]) -> list[SLO]:
    service = spec["service"]
    service_labels = _strings(spec.get("labels"))
    if not spec.get("slos"):
        raise ValueError("at least one SLO is required")
    out = []
    for item in spec["slos"]:
        sli = item.get("sli") or {}
        if "plugin" in sli:
            raise ValueError("SLI plugins are not part of this reference")
        events, raw = sli.get("events"), sli.get("raw")
        if (events is None) == (raw is None):
            raise ValueError(f"{item['name']}: exactly one of sli.events and sli.raw")
        slo = SLO(service=service, name=item["name"], objective=float(item["objective"]),
                  labels={**service_labels, **_strings(item.get("labels"))}, info=dict(info))
        if events is not None:
            slo.error_query, slo.total_query = events[keys["error_query"]], events[keys["total_query"]]
        elif raw is not None:
            slo.error_ratio_query = raw[keys["error_ratio_query"]]
        alerting = item.get("alerting") or {}
        slo.page = _alert_meta(alerting, alerting.get(keys["page_alert"]) or {})
        slo.ticket = _alert_meta(alerting, alerting.get(keys["ticket_alert"]) or {})
        _validate(slo)
        out.append(slo)
    return out


def _alert_meta(alerting: dict[str, Any], own: dict[str, Any]) -> AlertMeta | None:
    """The common alerting block under the severity's own; None when the severity is disabled."""
    if own.get("disable"):
        return None
    return AlertMeta(
        name=alerting.get("name") or "",
        labels={**_strings(alerting.get("labels")), **_strings(own.get("labels"))},
        annotations={**_strings(alerting.get("annotations")), **_strings(own.get("annotations"))},
    )


def _openslo_slos(doc: dict[str, Any]) -> list[SLO]:
    spec = doc["spec"]
    period = 30 * DAY
    time_windows = spec.get("timeWindows") or []
    if len(time_windows) > 1 or (time_windows and str(time_windows[0].get("unit", "")).lower() != "day"):
        raise ValueError("one time window in days at most")
    if time_windows:
        period = int(time_windows[0]["count"]) * DAY
    out = []
    for index, objective in enumerate(spec["objectives"]):
        ratio = objective["ratioMetrics"]
        good, total = ratio["good"], ratio["total"]
        for source in (good, total):
            if source.get("source") not in ("prometheus", "sloth") or source.get("queryType") != "promql":
                raise ValueError("ratioMetrics from a prometheus promql source only")
        slo = SLO(
            service=spec["service"], name=f"{doc['metadata']['name']}-{index}",
            objective=float(objective["target"]) * 100, labels={},
            error_ratio_query=f"""
  1 - (
    (
      {good['query']}
    )
    /
    (
      {total['query']}
    )
  )
""",
            info={"sloth_mode": "cli-gen-openslo", "sloth_spec": "openslo/v1alpha"}, period=period,
        )
        _validate(slo)
        out.append(slo)
    return out


def _validate(slo: SLO) -> None:
    """The part of Sloth's validation that changes what could be generated."""
    if not 0 < slo.objective <= 100:
        raise ValueError(f"{slo.id}: objective {slo.objective} is not in (0, 100]")
    for query in (slo.error_query, slo.total_query, slo.error_ratio_query):
        if query and not WINDOW_VARIABLE.search(query):
            raise ValueError(f"{slo.id}: a query without {{{{.window}}}}: {query!r}")
    for meta in (slo.page, slo.ticket):
        if meta is not None and not meta.name:
            raise ValueError(f"{slo.id}: an enabled alert needs alerting.name")
    if slo.period != AlertWindows().period:
        raise ValueError(f"{slo.id}: only Sloth's default 30d windows are part of this reference")


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (mapping or {}).items()}


# ---- generation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Naming:
    """Recorded metric names, with the prefix that keeps this rule set apart from sloguard's."""

    prefix: str = ""

    def sli(self, window: int) -> str:
        return f"{self.prefix}{SLI_ERROR}{prom_duration(window)}"

    def __call__(self, metric: str) -> str:
        return self.prefix + metric


def _render_window(query: str, window: int) -> str:
    return WINDOW_VARIABLE.sub(prom_duration(window), query)


def sli_rules(slo: SLO, windows: AlertWindows, names: Naming) -> list[dict[str, Any]]:
    """One error-ratio rule per alert window, then the period's, averaged from the shortest window's rule."""
    rules = []
    for window in windows.windows():
        if slo.error_ratio_query:
            expr = f"({_render_window(slo.error_ratio_query, window)})"
        else:
            expr = f"({_render_window(slo.error_query, window)})\n/\n({_render_window(slo.total_query, window)})\n"
        rules.append(_record(names.sli(window), expr, {**slo.ids(), LABEL_WINDOW: prom_duration(window), **slo.labels}))
    shortest = names.sli(windows.page_quick.short) + label_filter(slo.ids())
    period = prom_duration(slo.period)
    expr = (f"sum_over_time({shortest}[{period}])\n/ ignoring ({LABEL_WINDOW})\n"
            f"count_over_time({shortest}[{period}])\n")
    rules.append(_record(names.sli(slo.period), expr, {**slo.ids(), LABEL_WINDOW: period, **slo.labels}))
    return rules


def metadata_rules(slo: SLO, windows: AlertWindows, names: Naming) -> list[dict[str, Any]]:
    labels = {**slo.ids(), **slo.labels}
    ids_filter = label_filter(slo.ids())
    ratio = slo.objective / 100

    def burn_rate(sli_metric: str) -> str:
        return (f"{sli_metric}{ids_filter}\n/ on({LABEL_ID}, {LABEL_SLO}, {LABEL_SERVICE}) group_left\n"
                f"{names(ERROR_BUDGET)}{ids_filter}\n")

    return [
        _record(names(OBJECTIVE), f"vector({go_float(ratio)})", labels),
        _record(names(ERROR_BUDGET), f"vector(1-{go_float(ratio)})", labels),
        _record(names(TIME_PERIOD), f"vector({go_float(slo.period / 3600 / 24)})", labels),
        _record(names(CURRENT_BURN), burn_rate(names.sli(windows.page_quick.short)), labels),
        _record(names(PERIOD_BURN), burn_rate(names.sli(slo.period)), labels),
        _record(names(BUDGET_REMAINING), f"1 - {names(PERIOD_BURN)}{ids_filter}", labels),
        _record(names(SLO_INFO), "vector(1)",
                {**labels, **slo.info, "sloth_objective": go_fixed(slo.objective)}),
    ]


def alert_rules(slo: SLO, windows: AlertWindows, names: Naming,
                extra_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The page alert, then the ticket alert; each one or the other of its two window pairs burning."""
    rules = []
    for severity, meta, quick, slow in (("page", slo.page, windows.page_quick, windows.page_slow),
                                        ("ticket", slo.ticket, windows.ticket_quick, windows.ticket_slow)):
        if meta is None:
            continue
        conditions = [_burning(slo, windows, names, window, pair)
                      for pair in (quick, slow) for window in (pair.short, pair.long)]
        expr = (f"(\n    {conditions[0]}\n    and\n    {conditions[1]}\n)\nor\n"
                f"(\n    {conditions[2]}\n    and\n    {conditions[3]}\n)\n")
        annotations = {
            "title": f"({severity}) {{{{$labels.{LABEL_SERVICE}}}}} {{{{$labels.{LABEL_SLO}}}}} "
                     "SLO error budget burn rate is too fast.",
            "summary": f"{{{{$labels.{LABEL_SERVICE}}}}} {{{{$labels.{LABEL_SLO}}}}} "
                       "SLO error budget burn rate is over expected.",
        }
        rules.append({
            "alert": meta.name,
            "expr": expr,
            "labels": _sorted({LABEL_SEVERITY: severity, **meta.labels, **extra_labels}),
            "annotations": _sorted({**annotations, **meta.annotations}),
        })
    return rules


def _burning(slo: SLO, windows: AlertWindows, names: Naming, window: int, pair: AlertWindow) -> str:
    """The error ratio over `window` above the pair's factor times the budget ((100 - objective) / 100)."""
    factor, budget = go_float(pair.factor(windows.period)), go_float((100 - slo.objective) / 100)
    return f"max({names.sli(window)}{label_filter(slo.ids())} > ({factor} * {budget})) without ({LABEL_WINDOW})"


def _record(name: str, expr: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": _sorted(labels)}


def _sorted(mapping: Mapping[str, str]) -> dict[str, str]:
    return {k: mapping[k] for k in sorted(mapping)}


def generate(text: str, *, prefix: str = "", alert_labels: Mapping[str, str] | None = None,
             extra_labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The rule groups Sloth writes for a Sloth file: per SLO, SLI, metadata and (if any) alert groups.

    `extra_labels` are Sloth's `--extra-labels` (on every recording rule); `alert_labels` are ours,
    added to every alert rule only.
    """
    windows = AlertWindows()
    names = Naming(prefix)
    groups: list[dict[str, Any]] = []
    for slo in load(text, extra_labels):
        groups.append({"name": GROUP_SLI + slo.id, "rules": sli_rules(slo, windows, names)})
        groups.append({"name": GROUP_META + slo.id, "rules": metadata_rules(slo, windows, names)})
        alerts = alert_rules(slo, windows, names, alert_labels or {})
        if alerts:
            groups.append({"name": GROUP_ALERTS + slo.id, "rules": alerts})
    return groups


def recorded_names(prefix: str = "") -> list[str]:
    """Every metric name this reference records for the default windows."""
    windows = AlertWindows()
    names = Naming(prefix)
    return [*(names.sli(w) for w in [*windows.windows(), windows.period]), *(names(m) for m in RECORDED)]
