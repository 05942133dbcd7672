"""Golden tests of Sloth fidelity: an imported Sloth (or OpenSLO) file gives the rules Sloth would write.

The reference is tests/support/slothref.py, written from Sloth's Go code and checked against the
rules Sloth itself generated for its examples. For every fixture in tests/data/sloth (one per
Sloth feature), sloguard imports the file and generates its rules; then

- statically: the same recorded rule names with the same label sets, the same alerts (names,
  labels, annotations, no `for`);
- under `promtool test rules`, with both rule sets in one file (the reference's metrics prefixed,
  its alerts labelled golden="slothref") and the same input series: every recorded metric has the
  same series with the same values, and the same alerts fire, in steady traffic, during and after
  a burst, and at low traffic. Counts that follow from the scenario keep the comparison honest.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloguard import importers, rules
from sloguard.spec.loader import load_spec_text
from sloguard.spec.windows import windows_for
from tests.support import slothref

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "sloth"

REF_PREFIX = "slothref:"
REF_ALERT_LABEL = "golden"
REF_ALERT_LABELS = {REF_ALERT_LABEL: "slothref"}
# sloth_slo_info's sloth_mode, sloth_spec and sloth_version name how sloguard generated the rules, on purpose
# (plain Prometheus rules from a sloguard/v1 spec, whatever the import came from): only their presence is compared.
OWN_INFO_VALUES = ("sloth_mode", "sloth_spec", "sloth_version")
# Far below any difference a wrong rule makes, far above float noise (0.999 vs Sloth's 0.9990000000000001).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Fixture:
    file: str
    importer: str = "sloth"  # or "openslo"
    fanout: int = 1  # series each SLI expression yields per SLO (sum by (region): one per region)


FIXTURES = (
    Fixture("events-plain.yml"),
    Fixture("events-sum-by.yml", fanout=2),
    Fixture("events-subquery.yml"),
    Fixture("latency-count-bucket.yml"),
    Fixture("raw-error-ratio.yml"),
    Fixture("labels.yml"),
    Fixture("alerting-full.yml"),
    Fixture("alerts-disabled.yml"),
    Fixture("multi-document.yml"),
    Fixture("k8s-crd.yml"),
    Fixture("openslo-v1alpha.yml", importer="openslo"),
)

# Recorded per SLI series (one per region with `sum by`); the rest are one vector() per SLO.
PER_SERIES = {slothref.CURRENT_BURN, slothref.PERIOD_BURN, slothref.BUDGET_REMAINING}


# ---- both rule sets ----------------------------------------------------------------------------


def sloth_text(fixture: Fixture) -> str:
    return (DATA / fixture.file).read_text()


def sloguard_groups(fixture: Fixture) -> list[dict[str, Any]]:
    """What `sloguard import` then `sloguard rules generate` (default windows) write for the fixture."""
    text = sloth_text(fixture)
    if fixture.importer == "openslo":
        specs = [importers.import_openslo(text, fixture.file)]
    else:
        specs = importers.import_sloth(text, fixture.file)
    groups: list[dict[str, Any]] = []
    for spec in specs:
        slo_set = load_spec_text(spec.text, source=f"{fixture.file} ({spec.service})")
        rule_set = rules.generate(slo_set, windows_for(slo_set, None))
        groups += yaml.safe_load(rules.render(slo_set, rule_set))["groups"]
    return groups


def reference_groups(fixture: Fixture, *, prefix: str = "", alert_labels: dict[str, str] | None = None,
                     ) -> list[dict[str, Any]]:
    return slothref.generate(sloth_text(fixture), prefix=prefix, alert_labels=alert_labels)


def _rules(groups: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if kind in rule]


def recorded(groups: Iterable[dict[str, Any]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(record, sorted labels) of every recording rule; sloguard's own info values masked."""
    out = []
    for rule in _rules(groups, "record"):
        labels = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
        if rule["record"] == slothref.SLO_INFO:
            labels.update({name: "<present>" for name in OWN_INFO_VALUES if name in labels})
        out.append((rule["record"], sorted(labels.items())))
    return sorted(out)


def alerts(groups: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert rule without its expression (the promtool run compares what it computes)."""
    out = [{key: value for key, value in rule.items() if key != "expr"} for rule in _rules(groups, "alert")]
    return sorted(out, key=lambda rule: yaml.safe_dump(rule, sort_keys=True))


# ---- the scenarios -----------------------------------------------------------------------------

STEP_MINUTES = 1
SENSORS = 20  # gauge series of the subquery and raw fixtures: the share of bad ones is the error ratio


@dataclass(frozen=True)
class Phase:
    minutes: int
    rate: float  # requests per second, per series of the counter families
    errors: float  # share of errors (of bad sensors, of failed probes)


@dataclass(frozen=True)
class Check:
    minute: int
    page: bool  # whether every enabled page alert fires then
    ticket: bool


@dataclass(frozen=True)
class Scenario:
    name: str
    phases: tuple[Phase, ...]
    checks: tuple[Check, ...]

    def interval_phases(self) -> list[Phase]:
        """The phase of each one-minute step, in order."""
        return [phase for phase in self.phases for _ in range(phase.minutes // STEP_MINUTES)]


# Objectives of the fixtures lie in [99.75, 99.95] %: 20 % errors burn > 14.4x any of their budgets
# (page and ticket); 5 % burns > 14.4 x 0.25 % = 3.6 % (the low-traffic page); a 30-minute burst of
# 50 % pages while it lasts (5m and 1h windows) and still tickets 40 minutes later (2h and 1d).
SCENARIOS = (
    Scenario("steady traffic, 20 % errors", (Phase(180, 10, 0.2),), (Check(120, True, True), Check(180, True, True))),
    Scenario(
        "burst of 50 % errors for 30 minutes",
        (Phase(360, 10, 0.0), Phase(30, 10, 0.5), Phase(40, 10, 0.0)),
        (Check(360, False, False), Check(380, True, True), Check(430, False, True)),
    ),
    Scenario("low traffic, 0.5 req/s with 5 % errors", (Phase(180, 0.5, 0.05),), (Check(120, True, True),)),
)


def expanding(values: Sequence[float]) -> str:
    """promtool's expanding notation: each run of a constant step written as 'start+stepxN'."""
    parts, i = [], 0
    while i < len(values):
        if i + 1 == len(values):
            parts.append(_number(values[i]))
            break
        step, j = values[i + 1] - values[i], i + 1
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        sign = "-" if step < 0 else "+"
        parts.append(f"{_number(values[i])}{sign}{_number(abs(step))}x{j - i}")
        i = j + 1
    return " ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _counter(increments: Iterable[float]) -> list[float]:
    values = [0.0]
    for increment in increments:
        values.append(values[-1] + increment)
    return values


def _gauge(per_step: Sequence[float]) -> list[float]:
    return [per_step[0], *per_step]  # the sample at t=0 already shows the first step's state


def _bad_count(share: float) -> int:
    count = round(share * SENSORS)
    assert count == share * SENSORS, f"{share} of {SENSORS} series is not a whole number"
    return count


def input_series(scenario: Scenario) -> list[dict[str, str]]:
    """Every family the fixtures read, for one scenario, sampled every minute from t=0."""
    steps = scenario.interval_phases()
    series: list[dict[str, str]] = []

    def add(name: str, labels: dict[str, str], values: Sequence[float]) -> None:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        series.append({"series": f"{name}{{{inner}}}", "values": expanding(values)})

    requests = [p.rate * 60 * STEP_MINUTES for p in steps]
    errors = [p.rate * 60 * STEP_MINUTES * p.errors for p in steps]
    ok = [total - bad for total, bad in zip(requests, errors, strict=True)]
    for job in ("checkout", "catalog"):
        for region in ("eu-west", "us-east"):
            add("shop_http_requests_total", {"job": job, "region": region, "code": "200"}, _counter(ok))
            add("shop_http_requests_total", {"job": job, "region": region, "code": "503"}, _counter(errors))
    histogram = "shop_http_request_duration_seconds"
    add(f"{histogram}_count", {"job": "checkout"}, _counter(requests))
    add(f"{histogram}_bucket", {"job": "checkout", "le": "0.25"}, _counter(ok))  # the errors are slower
    add(f"{histogram}_bucket", {"job": "checkout", "le": "0.5"}, _counter(requests))
    add(f"{histogram}_bucket", {"job": "checkout", "le": "+Inf"}, _counter(requests))
    bad = [_bad_count(p.errors) for p in steps]
    for i in range(SENSORS):
        add("warehouse_sensor_quality", {"sensor": f"s{i:02d}"}, _gauge([0.5 if i < n else 0.9 for n in bad]))
        add("edge_probe_success", {"target": f"t{i:02d}"}, _gauge([0.0 if i < n else 1.0 for n in bad]))
    return series


# ---- the promtool comparison -------------------------------------------------------------------


def _tagged(expr: str, what: str) -> str:
    """Label every difference with what it is, so that promtool's report says which comparison failed."""
    return f'label_replace({expr}, "golden_check", "{what}", "", "")'


def difference_query(names: Sequence[str]) -> str:
    """Everything that differs between the two rule sets' series and alerts; empty when they agree."""
    parts = []
    for name in names:
        ours, ref = name, REF_PREFIX + name
        ignoring = f" ignoring({', '.join(OWN_INFO_VALUES)})" if name == slothref.SLO_INFO else ""
        parts += [
            _tagged(f"{ours} unless{ignoring} {ref}", f"{name}: only sloguard's"),
            _tagged(f"{ref} unless{ignoring} {ours}", f"{name}: only the reference's"),
            _tagged(f"abs({ours} -{ignoring} {ref}) > {TOLERANCE}", f"{name}: values differ"),
        ]
    ours_alerts = f'ALERTS{{{REF_ALERT_LABEL}=""}}'
    ref_alerts = f'ALERTS{{{REF_ALERT_LABEL}="{REF_ALERT_LABELS[REF_ALERT_LABEL]}"}}'
    parts += [
        _tagged(f"{ours_alerts} unless ignoring({REF_ALERT_LABEL}) {ref_alerts}", "ALERTS: only sloguard's"),
        _tagged(f"{ref_alerts} unless ignoring({REF_ALERT_LABEL}) {ours_alerts}", "ALERTS: only the reference's"),
    ]
    return "\n or ".join(parts)


def expected_series(fixture: Fixture) -> dict[str, int]:
    """How many series each of the reference's recorded metrics has: per SLO, one or one per region."""
    slos = slothref.load(sloth_text(fixture))
    counts = {}
    for name in slothref.recorded_names():
        per_slo = fixture.fanout if name.startswith(slothref.SLI_ERROR) or name in PER_SERIES else 1
        counts[name] = per_slo * len(slos)
    return counts


def expected_alerts(fixture: Fixture, check: Check) -> dict[str, int]:
    """Firing reference alerts per sloth_severity: every enabled alert of the severities the check expects."""
    slos = slothref.load(sloth_text(fixture))
    counts = {
        "page": fixture.fanout * sum(slo.page is not None for slo in slos) if check.page else 0,
        "ticket": fixture.fanout * sum(slo.ticket is not None for slo in slos) if check.ticket else 0,
    }
    return {severity: n for severity, n in counts.items() if n}


def scenario_test(fixture: Fixture, scenario: Scenario, names: Sequence[str]) -> dict[str, Any]:
    series_counts = expected_series(fixture)
    checks: list[dict[str, Any]] = []
    for check in scenario.checks:
        at = f"{check.minute}m"
        checks.append({"expr": difference_query(names), "eval_time": at, "exp_samples": []})
        checks.append({
            "expr": f'count by (__name__) ({{__name__=~"{REF_PREFIX}.+"}})',
            "eval_time": at,
            "exp_samples": [{"labels": f'{{__name__="{REF_PREFIX}{name}"}}', "value": n}
                            for name, n in series_counts.items()],
        })
        firing = f'ALERTS{{alertstate="firing", {REF_ALERT_LABEL}="{REF_ALERT_LABELS[REF_ALERT_LABEL]}"}}'
        checks.append({
            "expr": f"count by (sloth_severity) ({firing})",
            "eval_time": at,
            "exp_samples": [{"labels": f'{{sloth_severity="{severity}"}}', "value": n}
                            for severity, n in expected_alerts(fixture, check).items()],
        })
    return {"name": f"{fixture.file}: {scenario.name}", "interval": f"{STEP_MINUTES}m",
            "input_series": input_series(scenario), "promql_expr_test": checks}


def run_promtool(promtool: str, tmp_path: Path, fixture: Fixture, ours: list[dict[str, Any]],
                 ) -> subprocess.CompletedProcess[str]:
    """One `promtool test rules` of both rule sets side by side over every scenario."""
    reference = reference_groups(fixture, prefix=REF_PREFIX, alert_labels=REF_ALERT_LABELS)
    for group in reference:  # group names are unique per file; sloguard's are its own anyway
        group["name"] = REF_PREFIX + group["name"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": ours + reference}, sort_keys=False))
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "5m",
        # Without an order promtool evaluates groups in a random one; Sloth's metadata and alert groups
        # would then read the SLI group's previous evaluation in some runs and not in others. In file
        # order each group reads what the groups before it recorded at the same timestamp.
        "group_eval_order": [group["name"] for group in ours + reference],
        "tests": [scenario_test(fixture, s, slothref.recorded_names()) for s in SCENARIOS],
    }
    (tmp_path / "golden.test.yml").write_text(yaml.safe_dump(tests, sort_keys=False, width=1_000_000))
    return subprocess.run([promtool, "test", "rules", "golden.test.yml"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=False)


# ---- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.file.removesuffix(".yml") for f in FIXTURES])
def test_imported_rules_are_sloths_label_for_label(fixture: Fixture) -> None:
    ours, theirs = sloguard_groups(fixture), reference_groups(fixture)
    ours_recorded, theirs_recorded = recorded(ours), recorded(theirs)
    assert [r for r in ours_recorded if r not in theirs_recorded] == [], "recording rules Sloth does not write"
    assert [r for r in theirs_recorded if r not in ours_recorded] == [], "recording rules Sloth writes, sloguard not"
    assert len(ours_recorded) == len(theirs_recorded)
    assert alerts(ours) == alerts(theirs)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.file.removesuffix(".yml") for f in FIXTURES])
def test_imported_rules_compute_what_sloths_compute(promtool_bin: str, tmp_path: Path, fixture: Fixture) -> None:
    result = run_promtool(promtool_bin, tmp_path, fixture, sloguard_groups(fixture))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert result.stdout.count("SUCCESS") == 1


def test_the_promtool_comparison_fails_on_a_wrong_rule(promtool_bin: str, tmp_path: Path) -> None:
    """The harness can fail: the reference against itself passes, with one threshold loosened it does not."""
    fixture = FIXTURES[0]
    same = reference_groups(fixture, prefix="")
    passing = run_promtool(promtool_bin, tmp_path, fixture, same)
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    wrong = yaml.safe_load(yaml.safe_dump(same))
    page = next(rule for rule in _rules(wrong, "alert") if rule["labels"]["sloth_severity"] == "page")
    page["expr"] = page["expr"].replace("(14.4 *", "(1000 *").replace("(6 *", "(1000 *")
    failing = run_promtool(promtool_bin, tmp_path, fixture, wrong)
    assert failing.returncode != 0
    assert "ALERTS: only the reference's" in failing.stdout + failing.stderr
