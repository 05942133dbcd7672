"""Rule generation: golden files, burn-rate maths, low-traffic guard, windows files, spec alerting, CLI."""

from __future__ import annotations

import os
import re
from pathlib import Path

import promql_parser
import pytest
from click.testing import CliRunner

from sloguard import rules
from sloguard.cli import cli
from sloguard.errors import SpecError
from sloguard.spec import windows as burn_windows
from sloguard.spec.loader import load_spec, load_spec_text

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "rules"
FAST = DATA / "burn-windows-fast.yaml"
# Regenerate the golden files after an intended change: SLOGUARD_UPDATE_GOLDEN=1 pytest tests/unit/test_rules.py
UPDATE = os.environ.get("SLOGUARD_UPDATE_GOLDEN") == "1"


def spec(body: str, alerting: str = "") -> str:
    return (
        "apiVersion: sloguard/v1\nkind: SLOSet\nmetadata: {name: t}\nspec:\n  service: svc\n"
        f"{alerting}  objectives:\n{body}"
    )


ERRORS = """    - name: errs
      sli: {errorRatio: {errors: 'req_total{code="500"}', total: req_total}}
      by: [implementation]
      objective: {max: 0.001}
"""


def generated(text: str, windows: Path | None = None) -> rules.RuleSet:
    slo_set = load_spec_text(text, "t.yaml")
    return rules.generate(slo_set, burn_windows.windows_for(slo_set, str(windows) if windows else None))


def by_name(rule_set: rules.RuleSet) -> dict[str, list[rules.Rule]]:
    out: dict[str, list[rules.Rule]] = {}
    for rule in rule_set.rules():
        out.setdefault(rule.record or rule.alert, []).append(rule)
    return out


@pytest.mark.parametrize("name", sorted(p.stem.removeprefix("in-") for p in DATA.glob("in-*.yaml")))
def test_golden_files(name: str) -> None:
    slo_set = load_spec(DATA / f"in-{name}.yaml")
    text = rules.render(slo_set, rules.generate(slo_set, burn_windows.windows_for(slo_set, None)))
    golden = DATA / f"out-{name}.yml"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"regenerate with SLOGUARD_UPDATE_GOLDEN=1 ({golden})"


def test_recording_rules_have_sloth_names_and_labels_for_every_window() -> None:
    names = by_name(generated(spec(ERRORS)))
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        (rule,) = names[f"slo:sli_error:ratio_rate{window}"]
        assert rule.labels == {"sloth_id": "svc-errs", "sloth_service": "svc", "sloth_slo": "errs",
                               "sloth_window": window}
    for name in ("slo:objective:ratio", "slo:error_budget:ratio", "slo:current_burn_rate:ratio",
                 "slo:period_error_budget_remaining:ratio", "slo:period_burn_rate:ratio", "slo:time_period:days",
                 "sloth_slo_info"):
        assert len(names[name]) == 1, name
    assert names["slo:objective:ratio"][0].expr == "vector(0.999)"
    assert names["slo:error_budget:ratio"][0].expr == "vector(0.001)"
    assert names["sloth_slo_info"][0].labels["sloth_objective"] == "99.9"


def test_burn_rate_thresholds_are_factor_times_budget_as_clean_decimals() -> None:
    alerts = by_name(generated(spec(ERRORS)))["ErrsBudgetBurn"]
    page, ticket = alerts
    assert page.labels["sloth_severity"] == "page" and ticket.labels["sloth_severity"] == "ticket"
    assert "severity" not in page.labels and "severity" not in ticket.labels  # the spec's to set, as in Sloth
    # budget 0.001: 14.4x = 0.0144, 6x = 0.006, 3x = 0.003, 1x = 0.001 (worked by hand).
    assert "slo:sli_error:ratio_rate1h{sloth_id=\"svc-errs\"} > 0.0144" in page.expr
    assert "slo:sli_error:ratio_rate5m{sloth_id=\"svc-errs\"} > 0.0144" in page.expr
    assert "ratio_rate6h{sloth_id=\"svc-errs\"} > 0.006)" in page.expr
    assert "ratio_rate30m{sloth_id=\"svc-errs\"} > 0.006)" in page.expr
    assert "ratio_rate1d{sloth_id=\"svc-errs\"} > 0.003)" in ticket.expr
    assert "ratio_rate3d{sloth_id=\"svc-errs\"} > 0.001)" in ticket.expr
    # No binary noise anywhere (0.0144000000001, 0.0009999999999999432).
    text = rules.render(load_spec_text(spec(ERRORS), "t.yaml"), generated(spec(ERRORS)))
    assert not re.search(r"\d\.\d*(0000|9999)\d", text)


def test_low_traffic_guard_comes_from_min_request_rate() -> None:
    default = by_name(generated(spec(ERRORS)))  # off by default, as in Sloth
    assert "sloguard:sli_events:rate5m" not in default
    assert ">=" not in default["ErrsBudgetBurn"][0].expr
    plain = by_name(generated(spec(ERRORS, "  alerting: {minRequestRate: 0}\n")))
    assert plain.keys() == default.keys()
    guarded = by_name(generated(spec(ERRORS, "  alerting: {minRequestRate: 2.5}\n")))
    page = guarded["ErrsBudgetBurn"][0]
    assert 'sloguard:sli_events:rate5m{sloth_id="svc-errs"} >= 2.5' in page.expr
    assert 'sloguard:sli_events:rate30m{sloth_id="svc-errs"} >= 2.5' in page.expr
    (events,) = guarded["sloguard:sli_events:rate5m"]
    assert events.expr == "sum by (implementation) (rate(req_total[5m]))"


def test_threshold_objectives_get_value_rules_and_high_low_alerts_key_pages() -> None:
    body = """    - name: p95
      sli: {latency: {metric: lat_seconds, quantile: 0.95}}
      objective: {max: 0.005}
      key: true
    - name: rate
      sli: {throughput: {metric: req_total}}
      objective: {min: 10, max: 1000}
"""
    names = by_name(generated(spec(body, "  alerting: {minRequestRate: 1}\n")))
    (high,) = names["P95High"]
    assert high.labels == {"sloth_severity": "page"} and high.for_ == "5m"
    assert high.expr == (
        '(sloguard:sli_value:5m{sloth_id="svc-p95"} > 0.005) and ignoring (sloth_window) '
        '(sloguard:sli_events:rate5m{sloth_id="svc-p95"} >= 1)'
    )
    assert names["RateLow"][0].expr == 'sloguard:sli_value:5m{sloth_id="svc-rate"} < 10'
    assert names["RateHigh"][0].labels == {"sloth_severity": "ticket"}


EXTRA = "  selector: {job: svc}\n  alerting: {extraAlerts: [rustFallbacks, targetDown, targetAbsent]}\n"


def test_service_alerts_are_generated_only_when_the_spec_asks() -> None:
    assert not {"SvcRustFallbacks", "SvcTargetDown", "SvcTargetAbsent"} & by_name(generated(spec(ERRORS))).keys()
    names = by_name(generated(spec(ERRORS, EXTRA)))
    assert names["SvcRustFallbacks"][0].expr.startswith("sum by (feature, error_type) (rate(implementation_fallback")
    assert names["SvcTargetDown"][0].expr == 'up{job="svc"} == 0'
    assert names["SvcTargetAbsent"][0].expr == 'absent(up{job="svc"})'
    only = by_name(generated(spec(ERRORS, "  selector: {job: svc}\n  alerting: {extraAlerts: [targetDown]}\n")))
    assert "SvcTargetDown" in only and "SvcRustFallbacks" not in only and "SvcTargetAbsent" not in only


def test_target_alerts_without_a_selector_are_a_spec_error() -> None:
    # up == 0 with no selector pages on every target Prometheus scrapes, not this service's.
    with pytest.raises(SpecError, match=r"t.yaml:\d+: alerting.extraAlerts: targetDown needs spec.selector"):
        load_spec_text(spec(ERRORS, "  alerting: {extraAlerts: [targetDown]}\n"), "t.yaml")
    with pytest.raises(SpecError, match=r"alerting.extraAlerts\[0\]: must be one of"):
        load_spec_text(spec(ERRORS, "  alerting: {extraAlerts: [pagerOnFire]}\n"), "t.yaml")


def test_an_objective_without_budget_is_a_spec_error() -> None:
    body = ERRORS.replace("max: 0.001", "max: 0")
    with pytest.raises(SpecError, match="leaves no error budget"):
        generated(spec(body))


def test_windows_file_changes_windows_and_is_named_in_the_header() -> None:
    slo_set = load_spec_text(spec(ERRORS), "t.yaml")
    windows = burn_windows.load_windows(FAST)
    text = rules.render(slo_set, rules.generate(slo_set, windows))
    assert "burn-rate windows: fast v1" in text.splitlines()[1]
    assert "slo:sli_error:ratio_rate30s" in text and "slo:sli_error:ratio_rate1h" in text  # period 1h


def test_spec_alerting_is_optional_and_checked() -> None:
    assert load_spec_text(spec(ERRORS), "t.yaml").alerting.min_request_rate == 0
    slo_set = load_spec_text(spec(ERRORS, "  alerting: {minRequestRate: 3, runbookUrl: 'https://r'}\n"), "t.yaml")
    assert slo_set.alerting.min_request_rate == 3 and slo_set.alerting.runbook_url == "https://r"
    with pytest.raises(SpecError, match=r"alerting.minRequestRate: must be at least 0"):
        load_spec_text(spec(ERRORS, "  alerting: {minRequestRate: -1}\n"), "t.yaml")
    with pytest.raises(SpecError, match=r"alerting.pageWindow: unknown key"):
        load_spec_text(spec(ERRORS, "  alerting: {pageWindow: 1h}\n"), "t.yaml")


EXTRA_ALERTS = "    extraAlerts: [rustFallbacks, targetDown, targetAbsent]\n"
ROUTED = """  selector: {job: svc}
  alerting:
    labels: {component: gateway, severity: high}
    annotations: {runbook: 'https://r/all'}
    pageAlert:
      labels: {severity: pagerduty, team: oncall}
      annotations: {runbook: 'https://r/page', impact: users denied}
    ticketAlert:
      labels: {team: sark}
"""


def test_spec_alerting_labels_and_annotations_go_on_pages_and_tickets_the_severity_s_own_winning() -> None:
    names = by_name(generated(spec(ERRORS, ROUTED.replace("  alerting:\n", "  alerting:\n" + EXTRA_ALERTS))))
    page, ticket = names["ErrsBudgetBurn"]
    # No id labels on the rule: the alert takes them from its series, as Sloth's do.
    assert page.labels == {"sloth_severity": "page", "severity": "pagerduty", "component": "gateway", "team": "oncall"}
    assert ticket.labels["severity"] == "high" and ticket.labels["team"] == "sark"
    assert ticket.labels["sloth_severity"] == "ticket" and ticket.labels["component"] == "gateway"
    assert page.annotations["runbook"] == "https://r/page" and page.annotations["impact"] == "users denied"
    assert ticket.annotations["runbook"] == "https://r/all" and "impact" not in ticket.annotations
    assert page.annotations["summary"] == ticket.annotations["summary"]  # the generated ones stay
    assert page.annotations["title"].startswith("(page) ") and ticket.annotations["title"].startswith("(ticket) ")
    for alert in ("SvcTargetDown", "SvcTargetAbsent"):
        assert names[alert][0].labels["severity"] == "pagerduty" and names[alert][0].labels["team"] == "oncall"
    assert names["SvcRustFallbacks"][0].labels["severity"] == "high"
    recorded = [rule for rule in generated(spec(ERRORS, ROUTED)).rules() if rule.record]
    assert "SvcTargetDown" not in by_name(generated(spec(ERRORS, ROUTED)))
    assert recorded and not any("component" in rule.labels for rule in recorded)  # alerts only


LABELLED = """apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t, labels: {owner: team-a, tier: "2"}}
spec:
  service: svc
  alerting:
    labels: {component: gw}
    pageAlert: {labels: {severity: critical}}
  objectives:
    - name: errs
      labels: {category: availability, tier: "1"}
      sli: {errorRatio: {errors: 'req_total{code="500"}', total: req_total}}
      objective: {max: 0.001}
      alerting:
        name: SvcHighErrorRate
        labels: {category: availability}
        annotations: {summary: Too many errors}
        pageAlert: {labels: {severity: pageteam}, annotations: {title: Paging}}
        ticketAlert: {disable: true}
    - name: quiet
      sli: {errorRatio: {errors: 'req_total{code="500"}', total: req_total}}
      objective: {max: 0.01}
"""


def test_service_and_objective_labels_go_on_every_recording_rule_the_objective_s_winning() -> None:
    rule_set = generated(LABELLED)
    recorded = [rule for rule in rule_set.rules() if rule.record and rule.labels["sloth_slo"] == "errs"]
    assert len(recorded) == 8 + 7  # 8 SLI windows (with the period), 7 metadata rules
    for rule in recorded:
        assert rule.labels["owner"] == "team-a" and rule.labels["category"] == "availability"
        assert rule.labels["tier"] == "1", rule.record  # the SLO's own label over the service's (Sloth's merge)
    quiet = [rule for rule in rule_set.rules() if rule.record and rule.labels["sloth_slo"] == "quiet"]
    assert all(rule.labels["tier"] == "2" and "category" not in rule.labels for rule in quiet)
    assert not any("owner" in rule.labels for rule in rule_set.rules() if rule.alert)  # the series carry them


def test_objective_alerting_names_labels_annotations_and_disables_over_the_spec_s() -> None:
    names = by_name(generated(LABELLED))
    (page,) = names["SvcHighErrorRate"]  # the ticket is disabled
    assert page.labels == {"sloth_severity": "page", "component": "gw", "category": "availability",
                           "severity": "pageteam"}
    assert page.annotations == {"title": "Paging", "summary": "Too many errors"}
    quiet_page, quiet_ticket = names["QuietBudgetBurn"]
    assert quiet_page.labels == {"sloth_severity": "page", "component": "gw", "severity": "critical"}
    assert quiet_ticket.labels == {"sloth_severity": "ticket", "component": "gw"}
    assert quiet_ticket.annotations == {
        "title": "(ticket) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast.",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.",
    }
    both_off = LABELLED.replace("ticketAlert: {disable: true}", "ticketAlert: {disable: true}\n"
                                "        pageAlert: {disable: true}").replace(
        "        pageAlert: {labels: {severity: pageteam}, annotations: {title: Paging}}\n", "")
    assert "SvcHighErrorRate" not in by_name(generated(both_off))


def test_sloth_slo_info_says_mode_spec_and_version() -> None:
    (info,) = by_name(generated(spec(ERRORS)))["sloth_slo_info"]
    assert info.labels["sloth_mode"] == "cli-gen-prom" and info.labels["sloth_spec"] == "sloguard/v1"
    assert info.labels["sloth_version"].startswith("sloguard-") and info.labels["sloth_objective"] == "99.9"


@pytest.mark.parametrize(("sli", "objective", "expr5m"), [
    ("{errorQuery: 'sum(rate(e[{{window}}]))', totalQuery: 'sum(rate(t[{{window}}]))'}", "{max: 0.01}",
     "(sum(rate(e[5m]))) / (sum(rate(t[5m])))"),
    ("{goodQuery: 'sum(rate(g[{{window}}]))', totalQuery: 'sum(rate(t[{{window}}]))'}", "{min: 0.99}",
     "1 - ((sum(rate(g[5m]))) / (sum(rate(t[5m]))))"),
    ("{errorRatioQuery: '1 - avg(avg_over_time(s[{{window}}]))'}", "{max: 0.05}",
     "(1 - avg(avg_over_time(s[5m])))"),
])
def test_promql_ratio_gets_every_sloth_rule_and_burn_rate_alerts(sli: str, objective: str, expr5m: str) -> None:
    body = f"    - name: raw\n      sli: {{promqlRatio: {sli}}}\n      objective: {objective}\n"
    names = by_name(generated(spec(body)))
    assert names["slo:sli_error:ratio_rate5m"][0].expr == expr5m
    assert names["slo:sli_error:ratio_rate3d"][0].expr == expr5m.replace("[5m]", "[3d]")
    for name in ("slo:sli_error:ratio_rate30d", "slo:objective:ratio", "slo:error_budget:ratio", "sloth_slo_info",
                 "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                 "slo:period_error_budget_remaining:ratio", "slo:time_period:days"):
        assert len(names[name]) == 1, name
    assert [rule.labels["sloth_severity"] for rule in names["RawBudgetBurn"]] == ["page", "ticket"]
    assert "sloguard:sli_value:5m" not in names


@pytest.mark.parametrize(("sli", "message"), [
    ("{errorQuery: 'sum(rate(e[5m]))', totalQuery: 'sum(rate(t[{{window}}]))'}",
     r"t.yaml:8: objectives\[0\].sli.promqlRatio.errorQuery: must contain \{\{window\}\}"),
    ("{errorQuery: 'sum(rate(e[{{window}}]))'}",
     r"t.yaml:8: objectives\[0\].sli.promqlRatio: errorQuery needs totalQuery"),
    ("{errorQuery: 'a[{{window}}]', goodQuery: 'b[{{window}}]', totalQuery: 'c[{{window}}]'}",
     r"t.yaml:8: objectives\[0\].sli.promqlRatio: set exactly one of errorQuery, goodQuery"),
    ("{errorRatioQuery: 'a[{{window}}]', totalQuery: 'c[{{window}}]'}",
     r"t.yaml:8: objectives\[0\].sli.promqlRatio.totalQuery: errorRatioQuery is already the ratio"),
    ("{errorRatioQuery: 'a[{{.window}}]'}", r"unknown placeholder '\{\{.window\}\}'"),
])
def test_bad_promql_ratios_are_spec_errors_with_file_and_line(sli: str, message: str) -> None:
    body = f"    - name: raw\n      sli: {{promqlRatio: {sli}}}\n      objective: {{max: 0.01}}\n"
    with pytest.raises(SpecError, match=message):
        load_spec_text(spec(body), "t.yaml")


def test_objective_labels_may_not_take_sloth_names() -> None:
    body = ERRORS + "      labels: {sloth_window: x}\n"
    with pytest.raises(SpecError, match=r"t.yaml:\d+: objectives\[0\].labels: key 'sloth_window': sloth_\* labels"):
        load_spec_text(spec(body), "t.yaml")


@pytest.mark.parametrize(("alerting", "message"), [
    ("  alerting:\n    labels: {sloth_severity: x}\n",
     r"t.yaml:7: alerting.labels: key 'sloth_severity': sloth_\* labels and alertname are set by sloguard"),
    ("  alerting:\n    pageAlert:\n      labels:\n        alertname: x\n",
     r"t.yaml:9: alerting.pageAlert.labels: key 'alertname': sloth_\* labels and alertname are set by sloguard"),
    ("  alerting:\n    labels: {sloth_team: x}\n",
     r"t.yaml:7: alerting.labels: key 'sloth_team': sloth_\* labels and alertname are set by sloguard"),
    ("  alerting:\n    ticketAlert:\n      labels:\n        implementation: rust\n",
     r"t.yaml:9: alerting.ticketAlert.labels.implementation: 'implementation' tells one alert from another "
     r"\(objectives\[0\] groups by it\)"),
    ("  selector: {job: a}\n  alerting:\n    extraAlerts: [targetDown]\n    labels: {instance: a}\n",
     r"t.yaml:9: alerting.labels.instance: 'instance' tells one alert from another \(the service alerts'"),
    ("  alerting:\n    pageAlert: {labels: {severity: 1}}\n",
     r"t.yaml:7: alerting.pageAlert.labels.severity: must be a string"),
    ("  alerting:\n    ticketAlert:\n      annotations: {'bad key': x}\n",
     r"t.yaml:8: alerting.ticketAlert.annotations: key 'bad key': .* not a valid Prometheus label name"),
    ("  alerting:\n    pageAlert: {silence: true}\n",
     r"t.yaml:7: alerting.pageAlert.silence: unknown key; expected one of labels, annotations, disable"),
])
def test_bad_alert_labels_are_spec_errors_with_file_and_line(alerting: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec_text(spec(ERRORS, alerting), "t.yaml")


def test_repo_spec_stays_valid_and_sets_a_guard() -> None:
    slo_set = load_spec(ROOT / "sloguard.yaml")
    assert slo_set.alerting.min_request_rate > 0


def test_cli_generate_then_check_then_drift_exits_1_with_a_diff(tmp_path: Path) -> None:
    runner = CliRunner()
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(spec(ERRORS))
    out = tmp_path / "alerts"
    result = runner.invoke(cli, ["rules", "generate", "-f", str(spec_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "svc.rules.yml").read_text().startswith("# generated by sloguard — do not edit")
    assert runner.invoke(cli, ["rules", "check", "-f", str(spec_file), "-d", str(out)]).exit_code == 0
    path = out / "svc.rules.yml"
    path.write_text(path.read_text().replace("> 0.0144", "> 0.02"))
    result = runner.invoke(cli, ["rules", "check", "-f", str(spec_file), "-d", str(out)])
    assert result.exit_code == 1
    assert "differs" in result.output and "-" in result.output and "> 0.0144" in result.output
    path.unlink()
    result = runner.invoke(cli, ["rules", "check", "-f", str(spec_file), "-d", str(out)])
    assert result.exit_code == 1 and "missing" in result.output
    runner.invoke(cli, ["rules", "generate", "-f", str(spec_file), "-o", str(out)])
    (out / "old-service.rules.yml").write_text("groups: []\n")
    result = runner.invoke(cli, ["rules", "check", "-f", str(spec_file), "-d", str(out)])
    assert result.exit_code == 1 and "old-service.rules.yml: not generated by this spec" in result.output


def test_cli_bad_windows_is_one_line_exit_2(tmp_path: Path) -> None:
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(spec(ERRORS))
    result = CliRunner().invoke(cli, ["rules", "generate", "-f", str(spec_file), "-o", str(tmp_path),
                                      "--windows", "nope"])
    assert result.exit_code == 2 and "not a built-in name" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["rules", "generate"], ["rules", "check"], ["dashboards", "generate"],
                                  ["dashboards", "check"], ["import", "openslo"], ["import", "sloth"]])
def test_help_has_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_committed_alerts_match_the_repo_spec() -> None:
    """Regenerating alerts/ from sloguard.yaml gives no diff (run `sloguard rules generate` when it does)."""
    result = CliRunner().invoke(cli, ["rules", "check", "-f", str(ROOT / "sloguard.yaml"), "-d", str(ROOT / "alerts")])
    assert result.exit_code == 0, result.output


def test_committed_dashboards_match_the_repo_spec() -> None:
    """Regenerating dashboards/ from sloguard.yaml gives no diff (run `sloguard dashboards generate` when it does)."""
    result = CliRunner().invoke(
        cli, ["dashboards", "check", "-f", str(ROOT / "sloguard.yaml"), "-d", str(ROOT / "dashboards")]
    )
    assert result.exit_code == 0, result.output


def test_a_promql_comment_at_the_end_of_a_query_does_not_swallow_what_sloguard_adds() -> None:
    # `... # errors` parses alone, but `(... # errors) / (total)` on one line comments out the rest.
    body = """    - name: raw
      sli:
        promqlRatio:
          errorQuery: 'sum(rate(e[{{window}}])) # errors'
          totalQuery: 'sum(rate(t[{{window}}]))'
      objective: {max: 0.01}
"""
    for rule in generated(spec(body)).rules():
        promql_parser.parse(rule.expr)  # raises ValueError on a swallowed parenthesis
    (ratio,) = by_name(generated(spec(body)))["slo:sli_error:ratio_rate5m"]
    assert "/ (sum(rate(t[5m])))" in ratio.expr
