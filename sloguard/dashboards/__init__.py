"""Grafana dashboards from the spec: SLO overview, Rust vs Python, load run, memory soak.

Built with grafana-foundation-sdk (Grafana's typed builders) in the classic JSON model. Each dashboard
has a stable uid (alert annotations link to it), a `version` that moves with its content, tags, a
`datasource` variable and, where panels split by implementation, an `implementation` variable; every
panel query is built by sloguard.promql. Provisioning files for Grafana are generated next to them,
so `dashboards check` covers the whole directory.

`model` is what a dashboard is, `content` what each one shows, `grafana` the SDK rendering and
decoding, `files` what `dashboards generate` writes.
"""

from __future__ import annotations

from sloguard.dashboards.content import (
    build,
    load_run,
    memory_soak,
    overview,
    rollout_panels,
    rollout_step_annotation,
    rust_vs_python,
)
from sloguard.dashboards.files import output_files, panel_queries, provisioning_files
from sloguard.dashboards.grafana import decode, encode, render, to_grafana
from sloguard.dashboards.model import (
    DATASOURCE_VARIABLE,
    IMPLEMENTATION_ALL,
    IMPLEMENTATION_FILTER,
    IMPLEMENTATION_VARIABLE,
    RATE,
    Annotation,
    Dashboard,
    Panel,
    Query,
    Row,
)

__all__ = [
    "DATASOURCE_VARIABLE", "IMPLEMENTATION_ALL", "IMPLEMENTATION_FILTER", "IMPLEMENTATION_VARIABLE", "RATE",
    "Annotation", "Dashboard", "Panel", "Query", "Row", "build", "decode", "encode", "load_run", "memory_soak",
    "output_files", "overview", "panel_queries", "provisioning_files", "render", "rollout_panels",
    "rollout_step_annotation", "rust_vs_python", "to_grafana",
]  # fmt: skip
