"""Panel queries as Grafana sends them: the dashboard's variables at their defaults, the built-ins given.

The minimal interpolation the live checks need (the preview has the full one): a custom or query
variable at "All" becomes its allValue, or the regex of its values when it has none (Grafana's
`(a|b)`); one selected value is used as is. `$name` and `${name}` are both Grafana's spellings.
"""

from __future__ import annotations

import re
from typing import Any

_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
ALL = "$__all"


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each templating variable of a dashboard JSON at its current value, as a query sees it."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value")
        selected = current if isinstance(current, list) else [current]
        if ALL in selected:
            options = [v.strip() for v in str(variable.get("query", "")).split(",") if v.strip()]
            values[variable["name"]] = variable.get("allValue") or f"({'|'.join(map(re.escape, options))})"
        elif len(selected) == 1:
            values[variable["name"]] = str(selected[0])
        else:
            values[variable["name"]] = f"({'|'.join(map(re.escape, selected))})"
    return values


def interpolate(expr: str, dashboard: dict[str, Any], builtins: dict[str, str]) -> str:
    """`expr` with every variable replaced; a variable neither the dashboard nor `builtins` has is an error."""
    values = {**variable_values(dashboard), **builtins}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"{name}: no such variable in dashboard {dashboard.get('uid')}")
        return values[name]

    return _REFERENCE.sub(value, expr)


def panel_targets(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every panel, rows' nested panels included."""
    found = []
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found
