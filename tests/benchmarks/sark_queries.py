"""SARK's own dashboard and rule queries against a running stack: how many return data.

Run:  .venv/bin/python -m tests.benchmarks.sark_queries --sark PATH/TO/sark --stack .sloguard/stack

Reads the queries of a SARK checkout (panel targets of grafana/**/*.json and
monitoring/grafana/dashboards/*.json; rules of monitoring/prometheus/rules/*.yaml and
prometheus/alerts/*.yml), runs each against the stack's Prometheus now, and prints per file how
many return data, and how many do once an alert's final comparison (`> 0.3`) is dropped. SARK's
files name two jobs (`sark`, `sark-gateway`); both are rewritten to the stack's job, which is
what running the matching `--job` per file set gives. Put traffic on the stack first (e.g.
`sloguard load run quick --stack DIR --open-loop --rate 100 --duration 45s`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: make `sloguard` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sloguard.errors import SloguardError
from sloguard.prometheus import PrometheusClient
from sloguard.stackstate import read_state

SARK_JOBS = ("sark-gateway", "sark")
FINAL_COMPARISON = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*[0-9.e+-]+\s*$")


def panels(node: Any) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, rows' nested panels included."""
    for panel in node.get("panels", []):
        yield panel
        yield from panels(panel)


def sark_queries(root: Path) -> Iterator[tuple[str, str]]:
    """(file relative to the checkout, query) for every panel target and rule of SARK's files."""
    dashboards = sorted([*root.glob("grafana/**/*.json"), *root.glob("monitoring/grafana/dashboards/*.json")])
    for path in dashboards:
        document = json.loads(path.read_text(encoding="utf-8"))
        for panel in panels(document.get("dashboard", document)):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield str(path.relative_to(root)), target["expr"]
    rules = sorted([*root.glob("monitoring/prometheus/rules/*.yaml"), *root.glob("prometheus/alerts/*.yml")])
    for path in rules:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield str(path.relative_to(root)), rule["expr"]


def returns_data(client: PrometheusClient, query: str) -> bool:
    try:
        return bool(client.instant_query(query, time.time()))
    except SloguardError:  # e.g. a range-vector query: no data to count
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sark", type=Path, required=True, help="a checkout of github.com/apathy-ca/sark")
    parser.add_argument("--stack", type=Path, default=Path(".sloguard/stack"), help="a `sloguard stack up` DIR")
    args = parser.parse_args(argv)
    state = read_state(args.stack)
    if state is None or "prometheus" not in state.components:
        print(f"no running stack in {args.stack}", file=sys.stderr)
        return 2
    counts: dict[str, list[int]] = {}
    with PrometheusClient(state.components["prometheus"].url) as client:
        for name, query in sark_queries(args.sark):
            for job in SARK_JOBS:
                query = query.replace(f'job="{job}"', f'job="{state.job}"')
            bare = FINAL_COMPARISON.sub("", query)
            row = counts.setdefault(name, [0, 0, 0])
            row[0] += 1
            data = returns_data(client, query)
            row[1] += data
            row[2] += returns_data(client, bare) if bare != query else data
    print("| file | queries | return data | return data, final comparison dropped |")
    print("|---|---|---|---|")
    for name, (total, with_data, without_comparison) in counts.items():
        print(f"| {name} | {total} | {with_data} | {without_comparison} |")
    totals = [sum(row[i] for row in counts.values()) for i in range(3)]
    print(f"| total | {totals[0]} | {totals[1]} | {totals[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
