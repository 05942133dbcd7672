"""Generated alerts reach the right receiver: `amtool config routes test` on our config and on a SARK-shaped one.

The labels come from the rules `sloguard rules generate` makes of sloguard.yaml, so a change of
what an alert carries is caught here rather than in production's routing tree.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from sloguard import conventions as c
from sloguard import rules
from sloguard.spec.loader import load_spec, load_spec_text
from sloguard.spec.model import SLOSet
from sloguard.spec.windows import windows_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "sloguard.yaml"

# Shaped like SARK's monitoring/alertmanager/alertmanager.yml (old-style `match`, a critical route to
# PagerDuty that continues, team routes on category and component), written here, plus the
# `severity: warning` route a team adds for tickets.
SARK_SHAPED = {
    "route": {
        "receiver": "default",
        "group_by": ["alertname", "cluster", "service"],
        "routes": [
            {"match": {"severity": "critical"}, "receiver": "pagerduty-critical", "continue": True},
            {"match_re": {"category": "security|authentication|authorization"}, "receiver": "security-team"},
            {"match": {"component": "business"}, "receiver": "business-team"},
            {"match": {"severity": "warning"}, "receiver": "warning-tickets"},
        ],
    },
    "inhibit_rules": [
        {"source_match": {"severity": "critical"}, "target_match": {"severity": "warning"},
         "equal": ["alertname", "instance"]},
    ],
    "receivers": [{"name": name, "webhook_configs": [{"url": f"http://127.0.0.1:9/{name}"}]} for name in
                  ("default", "pagerduty-critical", "security-team", "business-team", "warning-tickets")],
}


def generated_alerts(slo_set: SLOSet) -> list[dict[str, str]]:
    """Every generated alert's labels as Alertmanager sees them (alertname and the rule's own labels)."""
    rule_set = rules.generate(slo_set, windows_for(slo_set, None))
    return [{c.LABEL_ALERTNAME: rule.alert, **rule.labels} for rule in rule_set.rules() if rule.alert]


def receivers(amtool: str, config: Path, labels: dict[str, str]) -> str:
    result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}",
                             *(f"{key}={value}" for key, value in labels.items())],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def sark_shaped_config(tmp_path: Path) -> Path:
    path = tmp_path / "sark-shaped-alertmanager.yml"
    path.write_text(yaml.safe_dump(SARK_SHAPED, sort_keys=False))
    return path


def test_pages_go_to_pagerduty_and_tickets_to_the_warning_route_of_a_sark_shaped_config(
        amtool_bin: str, tmp_path: Path) -> None:
    config = sark_shaped_config(tmp_path)
    check = subprocess.run([amtool_bin, "check-config", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    alerts = generated_alerts(load_spec(SPEC))
    pages = [a for a in alerts if a[c.LABEL_SLOTH_SEVERITY] == c.SEVERITY_PAGE]
    tickets = [a for a in alerts if a[c.LABEL_SLOTH_SEVERITY] == c.SEVERITY_TICKET]
    assert pages and tickets and len(pages) + len(tickets) == len(alerts)
    for labels in pages:
        assert receivers(amtool_bin, config, labels) == "pagerduty-critical", labels
    for labels in tickets:
        assert receivers(amtool_bin, config, labels) == "warning-tickets", labels


def test_spec_alerting_labels_reach_a_team_route_and_a_page_still_reaches_pagerduty(
        amtool_bin: str, tmp_path: Path) -> None:
    doc = yaml.safe_load(SPEC.read_text())
    doc["spec"]["alerting"]["labels"] = {"component": "business"}
    doc["spec"]["alerting"]["ticketAlert"] = {"labels": {"category": "authorization"}}
    alerts = generated_alerts(load_spec_text(yaml.safe_dump(doc), "spec.yaml"))
    config = sark_shaped_config(tmp_path)
    for labels in alerts:
        # The critical route continues, so a page also reaches the team; a ticket stops at the first team.
        expected = ("pagerduty-critical,business-team" if labels[c.LABEL_SLOTH_SEVERITY] == c.SEVERITY_PAGE
                    else "security-team")
        assert receivers(amtool_bin, config, labels) == expected, labels


def test_the_committed_config_sends_pages_to_page_and_tickets_to_ticket(amtool_bin: str) -> None:
    config = ROOT / "alerts" / "alertmanager.yml"
    expected = {c.SEVERITY_PAGE: "page", c.SEVERITY_TICKET: "ticket"}
    for labels in generated_alerts(load_spec(SPEC)):
        assert receivers(amtool_bin, config, labels) == expected[labels[c.LABEL_SLOTH_SEVERITY]], labels


def test_the_old_page_and_ticket_severities_would_not_reach_pagerduty(amtool_bin: str, tmp_path: Path) -> None:
    """The test can fail: the labels alerts carried before (severity=page) land in SARK's default receiver."""
    config = sark_shaped_config(tmp_path)
    assert receivers(amtool_bin, config, {"alertname": "X", "severity": "page"}) == "default"
    assert receivers(amtool_bin, config, {"alertname": "X", "severity": "ticket"}) == "default"
