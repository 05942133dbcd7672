"""Live check: the committed rules and every dashboard panel query return data from a real Prometheus.

One stack for the module (`sloguard stack up` with alerts/sark.rules.yml), about 20 s of real
traffic to both paths, then every query is asked of Prometheus; a query that errors or returns
nothing fails the test, naming it.

Alert expressions legitimately return nothing when the service is healthy (that is their
point), so for each alert its underlying parts are checked instead: the recorded SLI ratios,
values and event rates it compares (`Rule.probes`, each checked to appear in the alert's
expression), and the alert expression itself must at least evaluate without error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloguard import dashboards, rules
from sloguard.conventions import BINARIES, ROLLOUT_METRIC_PREFIX
from sloguard.spec.loader import load_spec
from sloguard.spec.windows import windows_for
from tests.support.grafana_vars import interpolate, panel_targets
from tests.support.processes import find_binary, missing_binary_message
from tests.support.rulestack import Load, query, stack_down, stack_up, url

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.integration
for _key in ("redis", "prometheus", "alertmanager"):
    if find_binary(BINARIES[_key][0]) is None:
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=missing_binary_message(BINARIES[_key][0]))]

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "alerts" / "sark.rules.yml"
# Grafana's $__rate_interval is at least four scrape intervals (5 s here); a minute is safe.
RATE_INTERVAL = "1m"
DATA_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("rules-live")
    state = stack_up(directory, [RULES_FILE])
    try:
        load = Load(url(state, "service"), max_requests=6000, max_seconds=20)
        load.start()
        load.join(timeout=40)
        load.stop()
        assert load.statuses[200] >= 500, load.statuses
        assert load.by_implementation["rust"] > 50 and load.by_implementation["python"] > 50, load.by_implementation
        yield state
    finally:
        left = stack_down(directory, state)
        assert not left, f"processes left behind: {left}"


def wait_for_data(prometheus: str, exprs: dict[str, str]) -> dict[str, str]:
    """Poll until every query returns data; what is still wrong (name -> reason) at the deadline."""
    deadline = time.monotonic() + DATA_TIMEOUT
    problems: dict[str, str] = {}
    while True:
        problems = {}
        for name, expr in exprs.items():
            error, result = query(prometheus, expr)
            if error or not result:
                problems[name] = error or f"no data: {expr}"
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(2)


def test_every_recording_rule_expression_and_recorded_series_has_data(live: dict[str, Any]) -> None:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    records = [rule for group in groups for rule in group["rules"] if "record" in rule]
    assert len(records) >= 30
    exprs: dict[str, str] = {}
    for rule in records:
        labels = rule.get("labels", {})
        key = f"{rule['record']}{{{labels.get('sloth_id', '')},{labels.get('sloth_window', '')}}}"
        exprs[f"expr {key}"] = rule["expr"]
        matchers = ",".join(f'{k}="{v}"' for k, v in labels.items())
        exprs[f"recorded {key}"] = f"{rule['record']}{{{matchers}}}"
    problems = wait_for_data(url(live, "prometheus"), exprs)
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_every_alert_evaluates_and_its_parts_have_data(live: dict[str, Any]) -> None:
    slo_set = load_spec(ROOT / "sloguard.yaml")
    alerts = [r for r in rules.generate(slo_set, windows_for(slo_set, None)).rules() if r.alert]
    committed = {rule["alert"] for group in yaml.safe_load(RULES_FILE.read_text())["groups"]
                 for rule in group["rules"] if "alert" in rule}
    assert {a.alert for a in alerts} == committed
    prometheus = url(live, "prometheus")
    exprs: dict[str, str] = {}
    for alert in alerts:
        error, _ = query(prometheus, alert.expr)
        assert not error, f"{alert.alert}: {error}"
        assert alert.probes, f"{alert.alert} has no parts to check"
        for probe in alert.probes:
            assert probe in alert.expr, f"{alert.alert}: {probe} is not part of its expression"
            exprs[f"{alert.alert} {alert.labels.get('sloth_severity')}: {probe}"] = probe
    problems = wait_for_data(prometheus, exprs)
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_every_dashboard_panel_query_has_data(live: dict[str, Any]) -> None:
    """Each target of the generated JSON, with the dashboard's variables at their defaults, as Grafana sends it."""
    slo_set = load_spec(ROOT / "sloguard.yaml")
    boards = [json.loads(text) for name, text in dashboards.output_files(slo_set, windows_for(slo_set, None)).items()
              if name.endswith(".json")]
    # The rollout panels read a rollout controller's metrics: tests/integration/test_rollout_metrics.py.
    exprs = {f"{board['uid']} / {title} / {expr}": interpolate(expr, board, {"__rate_interval": RATE_INTERVAL})
             for board in boards for title, expr in panel_targets(board) if ROLLOUT_METRIC_PREFIX not in expr}
    assert len(exprs) >= 40
    assert sum('implementation=~".*"' in expr for expr in exprs.values()) >= 15  # the variable's All, filled in
    problems = wait_for_data(url(live, "prometheus"), exprs)
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
