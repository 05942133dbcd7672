"""Grafana dashboards from the spec: SLO overview, Rust vs Python, load run, memory soak.

Each dashboard has a stable uid (alert annotations link to it), a `version`, tags and a
`datasource` variable; every panel query is built by sloguard.promql. Provisioning files
for Grafana are generated next to them, so `dashboards check` covers the whole directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sloguard import conventions as c
from sloguard import generated, promql
from sloguard.generated import LOAD_RUN, MEMORY_SOAK, OVERVIEW, RUST_VS_PYTHON, dashboard_uid
from sloguard.rules import is_budget_objective, slo_labels
from sloguard.spec.model import MemoryGrowthSLI, Objective, SLOSet
from sloguard.spec.windows import Windows

DASHBOARD_VERSION = 1
SCHEMA_VERSION = 39
# Grafana's own variable: at least four scrape intervals, so rate() always has two samples.
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# The datasource provisioned by dashboards/provisioning (docker-compose's Prometheus).
PROVISIONED_DATASOURCE_UID = "prometheus"
PROVISIONED_PROMETHEUS_URL = "http://prometheus:9090"
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards"


@dataclass
class Panel:
    title: str
    queries: list[tuple[str, str]]  # (expr, legend)
    kind: str = "timeseries"
    unit: str = "short"
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    width: int = 12
    height: int = 8
    description: str = ""


@dataclass
class Annotation:
    """A Grafana annotation query: a mark on every time panel where `expr` has a sample."""

    name: str
    expr: str
    title: str  # Grafana's titleFormat: {{label}} placeholders
    color: str = "blue"


@dataclass
class Dashboard:
    uid: str
    title: str
    panels: list[Panel]
    tags: list[str]
    description: str
    annotations: list[Annotation] = field(default_factory=list)

    def queries(self) -> list[str]:
        return [expr for panel in self.panels for expr, _ in panel.queries]


# ---- the four dashboards -----------------------------------------------------------------------


def overview(slo_set: SLOSet, windows: Windows) -> Dashboard:
    """SLO status, error budget remaining and burn rate per objective, from the recording rules."""
    firing = promql.firing_alerts({c.LABEL_SLO_SERVICE: slo_set.service})
    panels = [
        Panel("Firing SLO alerts", [(firing, "firing")], kind="stat",
              thresholds=[(0, "green"), (1, "red")], width=24, height=4,
              description="Alerts of this service now firing (0 means every SLO is within bounds)."),
    ]
    for objective in slo_set.objectives:
        panels += _objective_panels(slo_set, objective, windows)
    return Dashboard(dashboard_uid(slo_set.service, OVERVIEW), f"{slo_set.service} SLO overview", panels,
                     _tags(slo_set, "slo"), _description(slo_set))


def _objective_panels(slo_set: SLOSet, objective: Objective, windows: Windows) -> list[Panel]:
    ids = slo_labels(slo_set, objective)
    by_legend = " ".join(f"{{{{{label}}}}}" for label in objective.by) or objective.name

    def sel(metric: str) -> str:
        return promql.slo_series(metric, ids[c.LABEL_SLO_ID])

    if is_budget_objective(objective):
        shortest = windows.ratio_windows()[0]
        return [
            Panel(f"{objective.name}: error budget remaining ({windows.period})",
                  [(sel(c.RULE_PERIOD_BUDGET_REMAINING), by_legend)], kind="stat", unit="percentunit",
                  thresholds=[(0, "red"), (0.25, "orange"), (0.5, "green")], width=6,
                  description=objective.description),
            Panel(f"{objective.name}: burn rate ({shortest})", [(sel(c.RULE_CURRENT_BURN), by_legend)],
                  thresholds=[(0, "green"), (1, "orange"), (14.4, "red")], width=9,
                  description="1 spends the budget exactly over the period; the page threshold is 14.4."),
            Panel(f"{objective.name}: bad events ratio", [
                (sel(c.RULE_SLI_ERROR.format(window=w)), f"{by_legend} {w}") for w in windows.ratio_windows()[:3]
            ], unit="percentunit", width=9),
        ]
    window = windows.value_window(objective.sli)
    bound = objective.objective
    limits = [value for value in (bound.min, bound.max) if value is not None]
    return [
        Panel(f"{objective.name} ({window})", [(sel(c.RULE_SLI_VALUE.format(window=window)), by_legend)],
              unit=_unit(objective), thresholds=[(0, "green")] + [(limit, "red") for limit in limits],
              width=24, description=objective.description),
    ]


def _unit(objective: Objective) -> str:
    name = type(objective.sli).__name__
    return {"LatencySLI": "s", "ThroughputSLI": "reqps", "MemoryGrowthSLI": "bytes"}.get(name, "short")


def rust_vs_python(slo_set: SLOSet) -> Dashboard:
    """Latency quantiles per implementation, the speedup, cache hit ratio, fallbacks, rollout."""
    base = slo_set.selector
    impl = (c.LABEL_IMPLEMENTATION,)
    panels = [
        Panel("Authorization latency p50 / p95 / p99", [
            (promql.quantile_by(q, c.AUTHZ_DURATION, base, impl, RATE), f"{{{{implementation}}}} p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ], unit="s"),
        Panel("Policy evaluation latency p50 / p95 / p99", [
            (promql.quantile_by(q, c.OPA_DURATION, base, impl, RATE), f"{{{{implementation}}}} p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ], unit="s"),
        Panel("Speedup: Python p95 / Rust p95", [
            (promql.speedup(base, c.AUTHZ_DURATION, RATE), "authorization"),
            (promql.speedup(base, c.OPA_DURATION, RATE), "policy evaluation"),
            (promql.speedup(base, c.CACHE_DURATION, RATE), "cache operation"),
        ], unit="x", description="How many times faster the Rust path is at p95."),
        Panel("Cache hit ratio", [(promql.cache_hit_ratio(base, RATE), "{{implementation}}")], unit="percentunit"),
        Panel("Rust-to-Python fallbacks", [
            (promql.counter_rate_by(c.FALLBACKS, base, (c.LABEL_FEATURE, c.LABEL_ERROR_TYPE), RATE),
             "{{feature}} {{error_type}}"),
        ], unit="ops"),
        Panel("Rollout to Rust", [
            (promql.aggregate("max", (c.LABEL_FEATURE,), promql.series(c.FLAG_ROLLOUT, base)), "{{feature}}"),
        ], unit="percent"),
        *rollout_panels(),
    ]
    return Dashboard(dashboard_uid(slo_set.service, RUST_VS_PYTHON), f"{slo_set.service} Rust vs Python", panels,
                     _tags(slo_set, "rust"), _description(slo_set), [rollout_step_annotation()])


# The rollout's own metrics come from the controller (`rollout run --metrics-port`), a scrape job of their
# own: they carry no spec selector, and have data only while a controller serves them.
def rollout_panels() -> list[Panel]:
    """What `sloguard rollout` did: the percent it applied per flag, and its decisions per kind."""
    return [
        Panel("Rust rollout", [(promql.rollout_percent_by_flag(), "{{rollout}} {{flag}}")], unit="percent",
              description="The percent `sloguard rollout` last applied to each flag (its decision log's `applied`)."),
        Panel("Rust rollout decisions", [(promql.rollout_decisions(RATE), "{{rollout}} {{decision}}")],
              description="Decisions per kind: looks every interval; promote, rollback, hold, abort as they happen."),
    ]


def rollout_step_annotation() -> Annotation:
    """A mark wherever a rollout's split changed (a promotion or rollback applied): its step's window starts."""
    # Over $__rate_interval, longer than a step of the query, so a change between two steps' windows is seen.
    return Annotation("Rollout step changes", promql.rollout_step_changes(RATE),
                      "{{rollout}}: step changed", color="orange")


def load_run(slo_set: SLOSet) -> Dashboard:
    """What a load run drives: decision rate, error ratio and latency, per implementation."""
    base = slo_set.selector
    impl = (c.LABEL_IMPLEMENTATION,)
    panels = [
        Panel("Decisions per second", [
            (promql.counter_rate_by(c.AUTHZ_REQUESTS, base, (c.LABEL_IMPLEMENTATION, c.LABEL_DECISION), RATE),
             "{{implementation}} {{decision}}"),
            (promql.counter_rate_by(c.AUTHZ_REQUESTS, base, (), RATE), "total"),
        ], unit="reqps"),
        Panel("Error ratio", [(promql.decision_error_ratio(base, impl, RATE), "{{implementation}}")],
              unit="percentunit"),
        Panel("Authorization latency p50 / p95 / p99 (all paths)", [
            (promql.quantile_by(q, c.AUTHZ_DURATION, base, (), RATE), f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)
        ], unit="s"),
        Panel("Cache outcome per second", [
            (promql.counter_rate_by(f"{c.AUTHZ_DURATION}_count", base, (c.LABEL_IMPLEMENTATION, c.LABEL_CACHE), RATE),
             "{{implementation}} {{cache}}"),
        ], unit="reqps"),
    ]
    return Dashboard(dashboard_uid(slo_set.service, LOAD_RUN), f"{slo_set.service} load run", panels,
                     _tags(slo_set, "load"), _description(slo_set))


def memory_soak(slo_set: SLOSet, windows: Windows) -> Dashboard:
    """Resident memory and its growth per hour, worst instance (what memory-growth judges)."""
    rss = promql.series(c.PROCESS_RSS, slo_set.selector)
    growth = promql.memory_growth(slo_set.selector, 3600, windows.growth_window)
    panels = [
        Panel("Resident memory", [(rss, "{{instance}}")], unit="bytes"),
        Panel(f"Memory growth per hour (deriv over {windows.growth_window})", [(growth, "worst instance")],
              unit="bytes", thresholds=_growth_thresholds(slo_set)),
    ]
    return Dashboard(dashboard_uid(slo_set.service, MEMORY_SOAK), f"{slo_set.service} memory soak", panels,
                     _tags(slo_set, "soak"), _description(slo_set))


def _growth_thresholds(slo_set: SLOSet) -> list[tuple[float, str]]:
    """The memory-growth objective's bound as the red line, when the spec has one per hour."""
    for objective in slo_set.objectives:
        sli = objective.sli
        if isinstance(sli, MemoryGrowthSLI) and objective.objective.max is not None:
            return [(0, "green"), (objective.objective.max * 3600 / sli.per_seconds, "red")]
    return []


def _tags(slo_set: SLOSet, kind: str) -> list[str]:
    return ["sloguard", slo_set.service, kind]


def _description(slo_set: SLOSet) -> str:
    source = generated.source_name(slo_set)
    return f"{c.GENERATED_HEADER}; source {source}; regenerate with `sloguard dashboards generate`."


def build(slo_set: SLOSet, windows: Windows) -> list[Dashboard]:
    return [overview(slo_set, windows), rust_vs_python(slo_set), load_run(slo_set), memory_soak(slo_set, windows)]


# ---- Grafana JSON ------------------------------------------------------------------------------


def to_grafana(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana's dashboard model (schemaVersion 39), panels laid out left to right, top to bottom."""
    panels, x, y, row_height = [], 0, 0, 0
    for index, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel(panel, index, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": dashboard.tags,
        "version": DASHBOARD_VERSION,
        "schemaVersion": SCHEMA_VERSION,
        "editable": False,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "utc",
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": PROVISIONED_DATASOURCE_UID}, "hide": 0,
        }]},
        "annotations": {"list": [_annotation(a) for a in dashboard.annotations]},
        "links": [],
        "panels": panels,
    }


def _annotation(annotation: Annotation) -> dict[str, Any]:
    return {"name": annotation.name, "datasource": DATASOURCE, "enable": True, "iconColor": annotation.color,
            "expr": annotation.expr, "step": "", "titleFormat": annotation.title, "textFormat": "",
            "tagKeys": c.LABEL_ROLLOUT, "useValueForTime": False}


def _panel(panel: Panel, index: int, x: int, y: int) -> dict[str, Any]:
    steps = [{"color": color, "value": None if i == 0 else value} for i, (value, color) in enumerate(panel.thresholds)]
    return {
        "id": index,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "thresholds": {"mode": "absolute", "steps": steps or [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}} if panel.kind == "stat" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.queries)
        ],
    }


def provisioning_files() -> dict[str, str]:
    """Grafana provisioning: the Prometheus datasource (docker-compose) and a provider for the JSON files."""
    head = generated.header()
    datasource = {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "type": "prometheus", "uid": PROVISIONED_DATASOURCE_UID, "access": "proxy",
        "url": PROVISIONED_PROMETHEUS_URL, "isDefault": True, "editable": False,
    }]}
    provider = {"apiVersion": 1, "providers": [{
        "name": "sloguard", "folder": "sloguard", "type": "file", "disableDeletion": True,
        "allowUiUpdates": False, "options": {"path": GRAFANA_DASHBOARDS_PATH, "foldersFromFilesStructure": False},
    }]}
    return {
        "provisioning/datasources/prometheus.yml": head + generated.dump_yaml(datasource),
        "provisioning/dashboards/sloguard.yml": head + generated.dump_yaml(provider),
    }


def output_files(slo_set: SLOSet, windows: Windows) -> dict[str, str]:
    """Relative path -> content of everything `dashboards generate` writes."""
    files = {
        f"{d.uid.removeprefix(c.DASHBOARD_UID_PREFIX)}.json": json.dumps(to_grafana(d), indent=2) + "\n"
        for d in build(slo_set, windows)
    }
    files.update(provisioning_files())
    return files


def panel_queries(slo_set: SLOSet, windows: Windows) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) of every panel query, for live checks."""
    return [(d.uid, p.title, expr) for d in build(slo_set, windows) for p in d.panels for expr, _ in p.queries]

