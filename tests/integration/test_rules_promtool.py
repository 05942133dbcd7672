"""Generated rules and dashboards checked by the real parsers: promtool check/test rules, amtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sloguard import dashboards
from sloguard.cli import cli
from sloguard.spec.loader import load_spec
from sloguard.spec.windows import windows_for
from sloguard.stack import alertmanager_config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULES_DATA = ROOT / "tests" / "data" / "rules"
IMPORT_DATA = ROOT / "tests" / "data" / "import"


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, cwd=cwd)


def generated_rule_files(tmp_path: Path) -> list[Path]:
    """Everything sloguard generates: committed alerts, golden outputs, short windows, imported specs."""
    paths = sorted(ALERTS.glob("*.rules.yml")) + sorted(RULES_DATA.glob("out-*.yml"))
    runner = CliRunner()
    fast = tmp_path / "fast"
    assert runner.invoke(cli, ["rules", "generate", "-f", str(ROOT / "sloguard.yaml"), "-o", str(fast),
                               "--windows", str(RULES_DATA / "burn-windows-fast.yaml")]).exit_code == 0
    paths += sorted(fast.glob("*.yml"))
    for kind, name in (("openslo", "openslo-sark.yaml"), ("sloth", "sloth-sark.yaml")):
        spec = tmp_path / f"{kind}.yaml"
        assert runner.invoke(cli, ["import", kind, str(IMPORT_DATA / name), "-o", str(spec)]).exit_code == 0
        assert runner.invoke(cli, ["rules", "generate", "-f", str(spec), "-o", str(tmp_path / kind)]).exit_code == 0
        paths += sorted((tmp_path / kind).glob("*.yml"))
    return paths


def test_promtool_check_rules_is_clean_on_everything_generated(promtool_bin: str, tmp_path: Path) -> None:
    paths = generated_rule_files(tmp_path)
    assert len(paths) >= 6
    result = run(promtool_bin, "check", "rules", *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(paths)


def test_every_dashboard_query_parses(promtool_bin: str, tmp_path: Path) -> None:
    """Panel queries go through promtool's parser as recording rules ($__rate_interval as 5m)."""
    slo_set = load_spec(ROOT / "sloguard.yaml")
    queries = dashboards.panel_queries(slo_set, windows_for(slo_set, None))
    assert len(queries) >= 20
    group = {"name": "panels", "rules": [
        {"record": f"panel:q{i}", "expr": expr.replace(dashboards.RATE, "5m")} for i, (_, _, expr) in enumerate(queries)
    ]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    result = run(promtool_bin, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(promtool_bin: str) -> None:
    tests = sorted((ALERTS / "tests").glob("*.yml"))
    assert tests
    result = run(promtool_bin, "test", "rules", *[t.name for t in tests], cwd=ALERTS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    alerts = {rule["alert"] for path in ALERTS.glob("*.rules.yml")
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}
    fires: set[str] = set()
    silent: set[str] = set()
    for path in (ALERTS / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts and alerts <= fires, f"no firing case for {sorted(alerts - fires)}"
    assert alerts <= silent, f"no silent case for {sorted(alerts - silent)}"
    low_traffic = [c["name"] for p in (ALERTS / "tests").glob("*.yml") for c in yaml.safe_load(p.read_text())["tests"]
                   if "low traffic" in c["name"] or "handful" in c["name"]]
    assert len(low_traffic) >= 3


def test_the_unit_tests_fail_when_a_threshold_is_wrong(promtool_bin: str, tmp_path: Path) -> None:
    """The promtool tests can fail: loosen both page thresholds and the page cases must break."""
    shutil.copytree(ALERTS, tmp_path / "alerts", ignore=shutil.ignore_patterns("*.json"))
    rules_file = next((tmp_path / "alerts").glob("*.rules.yml"))
    text = rules_file.read_text()
    assert "> 0.144)" in text and "> 0.06)" in text
    rules_file.write_text(text.replace("> 0.144)", "> 0.5)").replace("> 0.06)", "> 0.5)"))
    result = run(promtool_bin, "test", "rules", "sark.test.yml", cwd=tmp_path / "alerts" / "tests")
    assert result.returncode != 0
    assert "AuthzErrorRateBudgetBurn" in result.stdout + result.stderr


def test_amtool_accepts_the_committed_and_the_stack_config(amtool_bin: str, tmp_path: Path) -> None:
    result = run(amtool_bin, "check-config", str(ALERTS / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    stack_config = alertmanager_config("http://127.0.0.1:9/alert")
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(stack_config))
    result = run(amtool_bin, "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    urls = re.findall(r"url: (\S+)", path.read_text())
    assert urls and set(urls) == {"http://127.0.0.1:9/alert"}
    committed = yaml.safe_load((ALERTS / "alertmanager.yml").read_text())
    assert stack_config["inhibit_rules"] == committed["inhibit_rules"]  # shared, only URLs and waits differ


@pytest.mark.parametrize(("labels", "receiver"), [
    (["severity=critical", "sloth_slo=authz-error-rate"], "page"),
    (["severity=warning", "sloth_slo=authz-error-rate"], "ticket"),
    (["alertname=Other"], "ticket"),
])
def test_alertmanager_routes_by_severity(amtool_bin: str, labels: list[str], receiver: str) -> None:
    result = run(amtool_bin, "config", "routes", "test", f"--config.file={ALERTS / 'alertmanager.yml'}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver
