"""What a sloguard dashboard is, before Grafana's schema: panels, rows, annotations, the variables they use.

`content` fills these in from the spec; `grafana` renders them with grafana-foundation-sdk. Keeping the
content in plain dataclasses lets tests and the live checks read every query without the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from sloguard import conventions as c
from sloguard.spec.model import Matcher

# Grafana's own variable: at least four scrape intervals, so rate() always has two samples.
RATE = "$__rate_interval"
# The dashboards' variables: the Prometheus to read, and which SARK path(s) to show.
DATASOURCE_VARIABLE = "datasource"
IMPLEMENTATION_VARIABLE = "implementation"
# The implementation variable's "All": a regex matching every path (Grafana's allValue, used unescaped).
IMPLEMENTATION_ALL = ".*"
# Panels that split by implementation filter on the variable. In a regex matcher Grafana interpolates a
# multi-value selection as (rust|python) and All as IMPLEMENTATION_ALL.
IMPLEMENTATION_FILTER = Matcher(c.LABEL_IMPLEMENTATION, "=~", f"${IMPLEMENTATION_VARIABLE}")

TIMESERIES, STAT, GAUGE, TABLE, TEXT = "timeseries", "stat", "gauge", "table", "text"
GRID_WIDTH = 24  # Grafana's grid is 24 columns wide


class Query(NamedTuple):
    """One panel target: a PromQL expression and its legend ({{label}} placeholders)."""

    expr: str
    legend: str
    instant: bool = False  # one value now (stat, gauge, table) rather than a range over the time picker
    table: bool = False  # Prometheus' table format: one row per series, labels as columns


@dataclass
class Panel:
    title: str
    queries: list[Query]
    kind: str = TIMESERIES
    unit: str = "short"  # a Grafana unit id: s, percentunit, reqps, ops, bytes, percent, suffix:x, short
    thresholds: list[tuple[float, str]] = field(default_factory=list)  # (from value, colour); the first from -inf
    width: int = 12
    height: int = 8
    description: str = ""
    min: float | None = None
    max: float | None = None
    content: str = ""  # a text panel's markdown
    hidden_columns: tuple[str, ...] = ()  # a table's columns (labels) not shown
    renamed_columns: dict[str, str] = field(default_factory=dict)  # a table's column headers


@dataclass
class Row:
    """A full-width row header: the panels after it, up to the next row, are its section."""

    title: str


@dataclass
class Annotation:
    """A Grafana annotation query: a mark on every time panel where `expr` has a sample."""

    name: str
    expr: str
    title: str  # Grafana's titleFormat: {{label}} placeholders
    color: str = "blue"
    tag_keys: tuple[str, ...] = (c.LABEL_ROLLOUT,)


@dataclass
class Dashboard:
    uid: str
    title: str
    panels: list[Panel | Row]
    tags: list[str]
    description: str
    annotations: list[Annotation] = field(default_factory=list)

    def query_panels(self) -> list[Panel]:
        """The panels that query Prometheus (not rows, not text)."""
        return [p for p in self.panels if isinstance(p, Panel) and p.queries]

    def queries(self) -> list[str]:
        return [query.expr for panel in self.query_panels() for query in panel.queries]

    def uses_implementation(self) -> bool:
        """Whether a panel or annotation filters on the implementation variable (then the dashboard has it)."""
        ref = f"${IMPLEMENTATION_VARIABLE}"
        return any(ref in expr for expr in [*self.queries(), *(a.expr for a in self.annotations)])
