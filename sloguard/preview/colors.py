"""Grafana's colours: named colours, the classic palette, and the colour a threshold gives a value."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sloguard.preview.model import FieldConfig, Step

# Grafana's visualization colours by name (light theme's main shades).
NAMED = {
    "green": "#73BF69", "semi-dark-green": "#56A64B", "dark-green": "#37872D", "light-green": "#96D98D",
    "super-light-green": "#C8F2C2", "yellow": "#FADE2A", "semi-dark-yellow": "#F2CC0C", "dark-yellow": "#E0B400",
    "light-yellow": "#FFEE52", "red": "#F2495C", "semi-dark-red": "#E02F44", "dark-red": "#C4162A",
    "light-red": "#FF7383", "orange": "#FF9830", "semi-dark-orange": "#FF780A", "dark-orange": "#FA6400",
    "light-orange": "#FFB357", "blue": "#5794F2", "semi-dark-blue": "#3274D9", "dark-blue": "#1F60C4",
    "light-blue": "#8AB8FF", "purple": "#B877D9", "semi-dark-purple": "#A352CC", "dark-purple": "#8F3BB8",
    "light-purple": "#CA95E5", "text": "#24292e", "transparent": "transparent", "gray": "#8e8e8e",
}  # fmt: skip
# Grafana's palette-classic, the default colour of each series in order.
CLASSIC = ("#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A6", "#705DA0",
           "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477")  # fmt: skip
_CSS_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}|rgba?\([\d\s.,%]+\)|[a-z-]+")


def css(color: str | None, default: str = "#73BF69") -> str:
    """A Grafana colour (a name, #hex or rgb()) as a CSS colour; anything else becomes the default."""
    if not color:
        return default
    color = color.strip()
    if color in NAMED:
        return NAMED[color]
    return color if _CSS_COLOR.fullmatch(color) else default


def threshold_color(value: float | None, config: FieldConfig) -> str:
    """The colour of the threshold step `value` falls in (percentage mode relative to min..max)."""
    steps: Sequence[Step] = config.thresholds or (Step(None, "green"),)
    if value is None:
        return css(steps[0].color)
    if config.thresholds_mode == "percentage":
        lo = config.min if config.min is not None else 0.0
        hi = config.max if config.max is not None else 100.0
        value = (value - lo) / (hi - lo) * 100 if hi > lo else 0.0
    chosen = steps[0]
    for step in steps:
        if step.value is None or value >= step.value:
            chosen = step
    return css(chosen.color)


def series_color(index: int, config: FieldConfig, value: float | None = None) -> str:
    """A series' colour: fixed or shades colour, thresholds colour of its last value, else the classic palette."""
    mode = config.color_mode or "palette-classic"
    if mode in ("fixed", "shades") and config.fixed_color:
        return css(config.fixed_color)
    if mode == "thresholds":
        return threshold_color(value, config)
    return CLASSIC[index % len(CLASSIC)]
