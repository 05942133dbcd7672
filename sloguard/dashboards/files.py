"""What `dashboards generate` writes: one JSON file per dashboard, Grafana's provisioning, and versions.

A dashboard's `version` moves only when its content does: the committed file in the output directory
(if any) keeps its version when everything but `version` is the same, else it goes up by one; a first
generation is version 1. `dashboards check` regenerates against the committed directory the same way,
so a content change (or a hand edit) shows up as drift, a version bump included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sloguard import conventions as c
from sloguard import generated
from sloguard.dashboards import grafana
from sloguard.dashboards.content import build
from sloguard.dashboards.model import Dashboard
from sloguard.spec.model import SLOSet
from sloguard.spec.windows import Windows

FIRST_VERSION = 1
PROVISIONED_PROMETHEUS_URL = "http://prometheus:9090"
# The scrape interval of the Prometheus the stacks run (sloguard/data/stack/prometheus.yml): Grafana's
# `timeInterval`, so its $__rate_interval is 4 × 5 s as the preview computes it, not 4 × Grafana's 15 s default.
PROVISIONED_SCRAPE_INTERVAL = "5s"
GRAFANA_DASHBOARDS_PATH = "/var/lib/grafana/dashboards"


def file_name(dashboard: Dashboard) -> str:
    return f"{dashboard.uid.removeprefix(c.DASHBOARD_UID_PREFIX)}.json"


def previous_document(path: Path) -> dict[str, Any] | None:
    """The committed dashboard at `path`, when there is one that parses with an integer version."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # none yet, or not JSON: this generation starts over (and check reports the diff)
    if not isinstance(document, dict) or not isinstance(document.get("version"), int):
        return None
    return document


def next_version(dashboard: Dashboard, previous: dict[str, Any] | None) -> int:
    """The previous version when nothing else changed, else one more; FIRST_VERSION without a previous file."""
    if previous is None:
        return FIRST_VERSION
    kept: int = previous["version"]
    return kept if grafana.to_grafana(dashboard, kept) == previous else kept + 1


def dashboard_files(slo_set: SLOSet, windows: Windows, previous_dir: Path | None = None) -> dict[str, str]:
    """File name -> JSON of each dashboard, versioned against the files in `previous_dir`."""
    files = {}
    for dashboard in build(slo_set, windows):
        name = file_name(dashboard)
        previous = previous_document(previous_dir / name) if previous_dir is not None else None
        files[name] = grafana.encode(grafana.render(dashboard, next_version(dashboard, previous)))
    return files


def provisioning_files() -> dict[str, str]:
    """Grafana provisioning: the Prometheus datasource (docker-compose) and a provider for the JSON files."""
    head = generated.header()
    datasource = {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "type": "prometheus", "uid": grafana.PROVISIONED_DATASOURCE_UID, "access": "proxy",
        "url": PROVISIONED_PROMETHEUS_URL, "isDefault": True, "editable": False,
        "jsonData": {"timeInterval": PROVISIONED_SCRAPE_INTERVAL},
    }]}
    provider = {"apiVersion": 1, "providers": [{
        "name": "sloguard", "folder": "sloguard", "type": "file", "disableDeletion": True,
        "allowUiUpdates": False, "options": {"path": GRAFANA_DASHBOARDS_PATH, "foldersFromFilesStructure": False},
    }]}
    return {
        "provisioning/datasources/prometheus.yml": head + generated.dump_yaml(datasource),
        "provisioning/dashboards/sloguard.yml": head + generated.dump_yaml(provider),
    }


def output_files(slo_set: SLOSet, windows: Windows, previous_dir: Path | None = None) -> dict[str, str]:
    """Relative path -> content of everything `dashboards generate` writes (versions against `previous_dir`)."""
    return {**dashboard_files(slo_set, windows, previous_dir), **provisioning_files()}


def panel_queries(slo_set: SLOSet, windows: Windows) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) of every panel query, for live checks."""
    return [(d.uid, p.title, query.expr) for d in build(slo_set, windows) for p in d.query_panels()
            for query in p.queries]
