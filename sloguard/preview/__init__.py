"""`sloguard dashboards preview`: Grafana dashboards drawn from a real Prometheus as self-contained HTML.

`model` reads Grafana's dashboard JSON, `variables` does Grafana's template substitution,
`queries` runs the panels' queries as Grafana's Prometheus data source does, `units` formats
values as Grafana does, `charts` and `panels` draw, `page` lays out the page, and `render`
runs it all and summarises every dashboard (panels drawn, panels without data, NaN values).
"""

from __future__ import annotations

from sloguard.preview.model import Dashboard, load_dashboard, load_directory, parse_dashboard, parse_files
from sloguard.preview.render import DashboardSummary, PanelSummary, PreviewOptions, preview, write_previews
from sloguard.preview.variables import parse_overrides

__all__ = [
    "Dashboard",
    "DashboardSummary",
    "PanelSummary",
    "PreviewOptions",
    "load_dashboard",
    "load_directory",
    "parse_dashboard",
    "parse_files",
    "parse_overrides",
    "preview",
    "write_previews",
]
