"""The committed alerts/alertmanager.yml and the embedded stack's copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sloguard.stack import SHARED_ALERTMANAGER_CONFIG, StackError, alertmanager_config

COMMITTED = yaml.safe_load(SHARED_ALERTMANAGER_CONFIG.read_text())


def test_committed_config_routes_by_severity_and_page_inhibits_ticket_of_the_same_slo() -> None:
    routes = {r["receiver"]: r["matchers"] for r in COMMITTED["route"]["routes"]}
    assert routes == {"page": ['severity="critical"'], "ticket": ['severity="warning"']}
    (inhibit,) = COMMITTED["inhibit_rules"]
    # sloth_severity, not severity: only sloguard's alerts carry it, so another rule's critical alert
    # (with no sloth_slo, equal to every other alert's missing sloth_slo) cannot silence their warnings.
    assert inhibit["source_matchers"] == ['sloth_severity="page"']
    assert inhibit["target_matchers"] == ['sloth_severity="ticket"']
    assert {"sloth_slo", "implementation"} <= set(inhibit["equal"])
    urls = {w["url"] for r in COMMITTED["receivers"] for w in r["webhook_configs"]}
    assert urls == {"http://receiver:9095/alert"}  # docker-compose's receiver


def test_stack_copy_only_rewrites_webhooks_and_waits() -> None:
    config = alertmanager_config("http://127.0.0.1:5/alert")
    assert {w["url"] for r in config["receivers"] for w in r["webhook_configs"]} == {"http://127.0.0.1:5/alert"}
    assert config["route"]["group_wait"] == "1s" and config["route"]["group_interval"] == "5s"
    assert config["inhibit_rules"] == COMMITTED["inhibit_rules"]
    assert [r["matchers"] for r in config["route"]["routes"]] == [r["matchers"] for r in COMMITTED["route"]["routes"]]
    slow = alertmanager_config("http://127.0.0.1:5/alert", fast=False)
    assert slow["route"]["group_wait"] == COMMITTED["route"]["group_wait"]


def test_a_missing_shared_config_is_a_stack_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="cannot read the shared Alertmanager config"):
        alertmanager_config("http://x/alert", tmp_path / "missing.yml")
