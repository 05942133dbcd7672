"""sloguard dashboards → Grafana's dashboard model, with Grafana's own typed builders (grafana-foundation-sdk).

The classic (v1) JSON model, as file provisioning loads it: `panels` with gridPos, `templating.list`,
`annotations.list`. sloguard lays the panels out itself and sets every gridPos: the SDK's automatic layout
checks for overflow only after placing a panel. The SDK's timeseries default hides the legend, so every
time series sets it shown (a list below the chart) and a tooltip over all series.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from sloguard import conventions as c
from sloguard.dashboards.model import (
    DATASOURCE_VARIABLE,
    GAUGE,
    GRID_WIDTH,
    IMPLEMENTATION_ALL,
    IMPLEMENTATION_VARIABLE,
    STAT,
    TABLE,
    TEXT,
    TIMESERIES,
    Annotation,
    Dashboard,
    Panel,
    Query,
    Row,
)

# 0.0.21 warns, on import of its v1 dashboard model, that the v2 schema is preferred. sloguard keeps the v1
# model on purpose: it is what file provisioning and the committed dashboards/*.json are, and what the
# preview reads.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
    from grafana_foundation_sdk.builders import dashboard as dash
    from grafana_foundation_sdk.builders import gauge, prometheus, stat, table, text, timeseries
    from grafana_foundation_sdk.builders.common import (
        GraphThresholdsStyleConfig,
        ReduceDataOptions,
        VizLegendOptions,
        VizTooltipOptions,
    )
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as m
    from grafana_foundation_sdk.models.common import (
        BigValueGraphMode,
        DataSourceRef,
        GraphThresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
        SortOrder,
        TooltipDisplayMode,
    )
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat
    from grafana_foundation_sdk.models.text import TextMode

# The datasource provisioned by dashboards/provisioning (docker-compose's Prometheus).
PROVISIONED_DATASOURCE_UID = "prometheus"
DATASOURCE = DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
ROW_HEIGHT = 1

_Builder = (timeseries.Panel | stat.Panel | gauge.Panel | table.Panel | text.Panel)


def render(dashboard: Dashboard, version: int) -> m.Dashboard:
    """The dashboard as Grafana's model: variables, annotations, panels laid out left to right, top to bottom."""
    builder = (
        dash.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(dashboard.tags)
        .version(version)
        .readonly()
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .links([])
        .with_variable(
            dash.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus")
            .current(m.VariableOption(text="Prometheus", value=PROVISIONED_DATASOURCE_UID))
        )
    )
    if dashboard.uses_implementation():
        builder = builder.with_variable(
            dash.CustomVariable(IMPLEMENTATION_VARIABLE).label("Implementation")
            .values(",".join(c.IMPLEMENTATIONS)).multi(True).include_all(True).all_value(IMPLEMENTATION_ALL)
            .current(m.VariableOption(text=["All"], value=["$__all"]))
        )
    # An explicit list, empty too: Grafana reads annotations.list, and the SDK omits it when nothing was added.
    builder = builder.annotations([_annotation(annotation) for annotation in dashboard.annotations])
    x = y = row_height = 0
    for index, item in enumerate(dashboard.panels, start=1):
        if isinstance(item, Row):
            y, x, row_height = y + row_height, 0, 0
            builder = builder.with_row(dash.Row(item.title).id(index).grid_pos(m.GridPos(ROW_HEIGHT, GRID_WIDTH, 0, y)))
            y += ROW_HEIGHT
            continue
        if x + item.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        builder = builder.with_panel(_panel(item).id(index).grid_pos(m.GridPos(item.height, item.width, x, y)))
        x += item.width
        row_height = max(row_height, item.height)
    return builder.build()


def _annotation(annotation: Annotation) -> dash.AnnotationQuery:
    return (dash.AnnotationQuery().name(annotation.name).datasource(DATASOURCE).enable(True)
            .icon_color(annotation.color).expr(annotation.expr).step("").title_format(annotation.title)
            .text_format("").tag_keys(",".join(annotation.tag_keys)).use_value_for_time(False))


def _target(query: Query, ref: int) -> prometheus.Dataquery:
    target = (prometheus.Dataquery().datasource(DATASOURCE).expr(query.expr).legend_format(query.legend)
              .ref_id(chr(ord("A") + ref)))
    target = target.instant() if query.instant else target.range()
    return target.format(PromQueryFormat.TABLE) if query.table else target


def _thresholds(panel: Panel) -> dash.ThresholdsConfig:
    steps = [m.Threshold(value=None if i == 0 else value, color=color)
             for i, (value, color) in enumerate(panel.thresholds)]
    return (dash.ThresholdsConfig().mode(m.ThresholdsMode.ABSOLUTE)
            .steps(steps or [m.Threshold(value=None, color="green")]))


def _panel(panel: Panel) -> _Builder:
    """One panel of its kind with the settings every kind shares: title, description, datasource, targets."""
    built: _Builder
    if panel.kind == TEXT:
        built = text.Panel().mode(TextMode.MARKDOWN).content(panel.content)
        return built.title(panel.title).description(panel.description)
    if panel.kind == TIMESERIES:
        series = (
            timeseries.Panel()
            .legend(VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST)
                    .placement(LegendPlacement.BOTTOM).calcs([]))
            .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE))
        )
        if panel.thresholds:  # a bound worth seeing: drawn as a dashed line, not only used for colours
            series = series.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
        built = series
    elif panel.kind == STAT:
        built = (stat.Panel().graph_mode(BigValueGraphMode.NONE)
                 .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    elif panel.kind == GAUGE:
        built = gauge.Panel().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    elif panel.kind == TABLE:
        built = table.Panel().with_transformation(m.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {column: True for column in panel.hidden_columns},
            "renameByName": dict(panel.renamed_columns),
        }))
    else:
        raise ValueError(f"unknown panel kind {panel.kind!r}")
    built = built.title(panel.title).description(panel.description).datasource(DATASOURCE).unit(panel.unit)
    built = built.thresholds(_thresholds(panel))
    if panel.min is not None:
        built = built.min(panel.min)
    if panel.max is not None:
        built = built.max(panel.max)
    for ref, query in enumerate(panel.queries):
        built = built.with_target(_target(query, ref))
    return built


def encode(model: m.Dashboard) -> str:
    """The JSON text of a dashboard model, as committed (two-space indent, trailing newline)."""
    return json.dumps(model, cls=JSONEncoder, indent=2) + "\n"


def to_grafana(dashboard: Dashboard, version: int = 1) -> dict[str, Any]:
    """Grafana's dashboard JSON of one dashboard, as a dict."""
    parsed: dict[str, Any] = json.loads(encode(render(dashboard, version)))
    return parsed


def decode(document: dict[str, Any]) -> m.Dashboard:
    """A dashboard JSON read back into the SDK's typed model (panel options and Prometheus targets typed too)."""
    # Registers the SDK's panel and datasource decoders: without it options stay plain dicts.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
        plugins.register_default_plugins()
        return m.Dashboard.from_json(document)
