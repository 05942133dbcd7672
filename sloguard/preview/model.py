"""Grafana's classic dashboard JSON (schemaVersion 36-42) read into what a preview needs, tolerantly.

Reads Grafana's schema, not sloguard's dicts: panels with gridPos (rows' nested panels
included), targets, fieldConfig defaults and overrides, options, templating and annotations.
Keys a preview does not use are ignored; a file that is not a dashboard is a one-line error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sloguard.errors import UsageError

GRID_COLUMNS = 24
PANEL_TYPES = ("timeseries", "graph", "stat", "gauge", "bargauge", "table", "text", "row")


@dataclass(frozen=True)
class Step:
    """One threshold step: from `value` up (None = -infinity), this colour."""

    value: float | None
    color: str


@dataclass(frozen=True)
class FieldConfig:
    """The field options a preview applies (defaults, or defaults with an override applied)."""

    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    color_mode: str | None = None  # fixed, palette-classic, thresholds, ...
    fixed_color: str | None = None
    display_name: str | None = None
    thresholds: tuple[Step, ...] = ()
    thresholds_mode: str = "absolute"
    thresholds_style: str = "off"  # timeseries: off, line, dashed, area, line+area, dashed+area


@dataclass(frozen=True)
class Override:
    matcher: str  # byName, byRegexp, byFrameRefID
    pattern: str
    properties: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Target:
    ref_id: str
    expr: str
    legend_format: str = ""
    instant: bool = False
    range: bool = True
    format: str = "time_series"
    hide: bool = False
    interval: str = ""


@dataclass(frozen=True)
class GridPos:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Panel:
    id: int | None
    type: str
    title: str
    grid: GridPos
    targets: tuple[Target, ...] = ()
    defaults: FieldConfig = FieldConfig()
    overrides: tuple[Override, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    max_data_points: int | None = None
    interval: str = ""
    transformations: tuple[Mapping[str, Any], ...] = ()
    collapsed: bool = False

    def option(self, *path: str, default: Any = None) -> Any:
        node: Any = self.options
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return default
            node = node[key]
        return node


@dataclass(frozen=True)
class Annotation:
    name: str
    expr: str
    title_format: str = ""
    text_format: str = ""
    icon_color: str = "red"
    step: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Dashboard:
    title: str
    uid: str
    panels: tuple[Panel, ...]
    variables: tuple[Mapping[str, Any], ...]
    annotations: tuple[Annotation, ...]
    source: str  # where it was read from (file name) for messages
    tags: tuple[str, ...] = ()


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (a preview reads what is there, tolerantly)."""
    return value if isinstance(value, Mapping) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _field_config(raw: Any) -> FieldConfig:
    raw = mapping(raw)
    thresholds = mapping(raw.get("thresholds"))
    steps = tuple(Step(_num(s.get("value")), str(s.get("color") or "green"))
                  for s in thresholds.get("steps") or [] if isinstance(s, Mapping))  # fmt: skip
    color = mapping(raw.get("color"))
    custom = mapping(raw.get("custom"))
    style = mapping(custom.get("thresholdsStyle"))
    return FieldConfig(
        unit=str(raw["unit"]) if raw.get("unit") else None,
        decimals=_int(raw.get("decimals")),
        min=_num(raw.get("min")),
        max=_num(raw.get("max")),
        color_mode=str(color["mode"]) if color.get("mode") else None,
        fixed_color=str(color["fixedColor"]) if color.get("fixedColor") else None,
        display_name=str(raw["displayName"]) if raw.get("displayName") else None,
        thresholds=steps,
        thresholds_mode=str(thresholds.get("mode") or "absolute"),
        thresholds_style=str(style.get("mode") or "off"),
    )


def apply_property(config: FieldConfig, prop: str, value: Any) -> FieldConfig:
    """One override property (Grafana's DynamicConfigValue id) applied to a field config."""
    if prop == "unit":
        return replace(config, unit=str(value) if value else None)
    if prop == "decimals":
        return replace(config, decimals=_int(value))
    if prop == "min":
        return replace(config, min=_num(value))
    if prop == "max":
        return replace(config, max=_num(value))
    if prop == "displayName":
        return replace(config, display_name=str(value) if value else None)
    if prop == "color" and isinstance(value, Mapping):
        return replace(config, color_mode=str(value.get("mode") or "fixed"),
                       fixed_color=str(value["fixedColor"]) if value.get("fixedColor") else config.fixed_color)
    if prop == "thresholds" and isinstance(value, Mapping):
        other = _field_config({"thresholds": value})
        return replace(config, thresholds=other.thresholds, thresholds_mode=other.thresholds_mode)
    if prop == "custom.thresholdsStyle" and isinstance(value, Mapping):
        return replace(config, thresholds_style=str(value.get("mode") or "off"))
    return config


def _overrides(raw: Any) -> tuple[Override, ...]:
    out = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping) or not isinstance(item.get("matcher"), Mapping):
            continue
        matcher = item["matcher"]
        props = tuple((str(p.get("id")), p.get("value")) for p in item.get("properties") or []
                      if isinstance(p, Mapping))  # fmt: skip
        out.append(Override(str(matcher.get("id") or ""), str(matcher.get("options") or ""), props))
    return tuple(out)


def _target(raw: Mapping[str, Any], index: int) -> Target | None:
    expr = raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        return None
    instant = bool(raw.get("instant"))
    return Target(
        ref_id=str(raw.get("refId") or chr(ord("A") + index % 26)),
        expr=expr,
        legend_format=str(raw.get("legendFormat") or ""),
        instant=instant,
        # Grafana's Prometheus query runs a range query unless it is instant-only.
        range=bool(raw.get("range", not instant)),
        format=str(raw.get("format") or "time_series"),
        hide=bool(raw.get("hide")),
        interval=str(raw.get("interval") or ""),
    )


def _panel(raw: Mapping[str, Any], collapsed: bool = False) -> Panel:
    grid = mapping(raw.get("gridPos"))
    pos = GridPos(*(max(0, _int(grid.get(k)) or 0) for k in ("x", "y")),
                  *(max(1, _int(grid.get(k)) or d) for k, d in (("w", 12), ("h", 8))))  # fmt: skip
    pos = GridPos(min(pos.x, GRID_COLUMNS - 1), pos.y, min(pos.w, GRID_COLUMNS - min(pos.x, GRID_COLUMNS - 1)), pos.h)
    config = mapping(raw.get("fieldConfig"))
    targets = [t for i, item in enumerate(raw.get("targets") or []) if isinstance(item, Mapping)
               and (t := _target(item, i)) is not None]  # fmt: skip
    options = mapping(raw.get("options"))
    return Panel(
        id=_int(raw.get("id")),
        type=str(raw.get("type") or "timeseries"),
        title=str(raw.get("title") or ""),
        grid=pos,
        targets=tuple(targets),
        defaults=_field_config(config.get("defaults")),
        overrides=_overrides(config.get("overrides")),
        options=options,
        description=str(raw.get("description") or ""),
        max_data_points=_int(raw.get("maxDataPoints")),
        interval=str(raw.get("interval") or ""),
        transformations=tuple(t for t in raw.get("transformations") or [] if isinstance(t, Mapping)),
        collapsed=collapsed,
    )


def _flatten(raw_panels: Sequence[Any]) -> list[Panel]:
    """Top-level panels in order; a collapsed row's own `panels` follow it (the preview shows them expanded)."""
    out = []
    for raw in raw_panels:
        if not isinstance(raw, Mapping):
            continue
        panel = _panel(raw)
        out.append(replace(panel, collapsed=bool(raw.get("collapsed"))) if panel.type == "row" else panel)
        if panel.type == "row":
            out += [_panel(p, collapsed=True) for p in raw.get("panels") or [] if isinstance(p, Mapping)]
    return out


def parse_dashboard(doc: Any, source: str) -> Dashboard:
    """A dashboard from its decoded JSON; `source` names it in errors."""
    if isinstance(doc, Mapping) and isinstance(doc.get("dashboard"), Mapping):
        doc = doc["dashboard"]  # the HTTP API's {"dashboard": ..., "meta": ...} wrapper
    if not isinstance(doc, Mapping) or not isinstance(doc.get("panels"), list):
        raise UsageError(f"{source}: not a Grafana dashboard (no panels list)")
    templating = mapping(doc.get("templating"))
    annotations_raw = mapping(doc.get("annotations"))
    annotations = tuple(
        Annotation(name=str(a.get("name") or "annotation"), expr=str(a["expr"]),
                   title_format=str(a.get("titleFormat") or ""), text_format=str(a.get("textFormat") or ""),
                   icon_color=str(a.get("iconColor") or "red"), step=str(a.get("step") or ""),
                   enabled=bool(a.get("enable", True)) and not a.get("hide", False))
        for a in annotations_raw.get("list") or []
        if isinstance(a, Mapping) and isinstance(a.get("expr"), str) and a["expr"].strip()
    )
    return Dashboard(
        title=str(doc.get("title") or source),
        uid=str(doc.get("uid") or Path(source).stem),
        panels=tuple(_flatten(doc["panels"])),
        variables=tuple(v for v in templating.get("list") or [] if isinstance(v, Mapping) and v.get("name")),
        annotations=annotations,
        source=source,
        tags=tuple(str(t) for t in doc.get("tags") or []),
    )


def load_dashboard(path: Path) -> Dashboard:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such dashboard file") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not readable JSON ({' '.join(str(exc).split())})") from None
    return parse_dashboard(doc, str(path))


def parse_files(files: Mapping[str, str]) -> list[Dashboard]:
    """Dashboards from generated files (relative path -> JSON text, as `dashboards.output_files` gives them).

    Only top-level *.json files are dashboards; provisioning files are skipped.
    """
    out = []
    for name, text in sorted(files.items()):
        if not name.endswith(".json") or "/" in name:
            continue
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"{name}: not readable JSON ({' '.join(str(exc).split())})") from None
        out.append(parse_dashboard(doc, name))
    return out


def load_directory(directory: Path) -> list[Dashboard]:
    """Every *.json dashboard directly in `directory` (provisioning/ is not searched), by file name."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such dashboards directory")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise UsageError(f"{directory}: no *.json dashboards")
    return [load_dashboard(p) for p in files]


def field_for(panel: Panel, name: str, ref_id: str = "") -> FieldConfig:
    """The panel's field config for a series named `name` (its legend) from query `ref_id`, overrides applied."""
    config = panel.defaults
    for override in panel.overrides:
        if override.matcher == "byName":
            hit = override.pattern == name
        elif override.matcher == "byRegexp":
            try:
                hit = re.fullmatch(override.pattern, name) is not None
            except re.error:
                hit = False
        elif override.matcher == "byFrameRefID":
            hit = override.pattern == ref_id
        else:
            hit = False
        if hit:
            for prop, value in override.properties:
                config = apply_property(config, prop, value)
    return config
