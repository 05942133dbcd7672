"""The v1 spec loader: SARK's spec, every SLI kind, and one test per validation rule with its file:line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import sloguard.spec
from sloguard.cli import cli
from sloguard.errors import SpecError
from sloguard.spec import load_spec, load_spec_text
from sloguard.spec.model import (
    Alerting,
    AlertMetadata,
    Bound,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    Matcher,
    MemoryGrowthSLI,
    MetricSelector,
    NoData,
    Objective,
    PromQLSLI,
    Scoring,
    SLOSet,
    ThroughputSLI,
)

ROOT = Path(__file__).resolve().parents[2]
SARK_SPEC = ROOT / "sloguard.yaml"

# Six header lines; the first objective starts on line 7.
HEAD = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: s
  objectives:
"""


def objectives(*lines: str) -> str:
    """HEAD plus objective lines indented under `objectives:` (the first given line is line 7)."""
    return HEAD + "".join(f"    {line}\n" for line in lines)


def spec_fields(*lines: str) -> str:
    """A spec with extra lines under `spec:` from line 6, then one valid objective."""
    return (
        "apiVersion: sloguard/v1\nkind: SLOSet\nmetadata: {name: t}\nspec:\n  service: s\n"
        + "".join(f"  {line}\n" for line in lines)
        + "  objectives:\n    - {name: a, sli: {throughput: {metric: x_total}}, objective: {min: 1}}\n"
    )


def error_of(text: str, source: str = "f.yaml") -> str:
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, source)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---- SARK's spec ------------------------------------------------------------------------------


def test_sark_spec_loads_to_the_expected_model() -> None:
    by_impl = ("implementation",)
    requests = MetricSelector("sark_authz_requests_total")
    expected = SLOSet(
        name="sark",
        service="sark",
        selector=(Matcher("job", "=", "sark"),),
        no_data=NoData.FAIL,
        min_events=100,
        scoring=None,
        source=str(SARK_SPEC),
        objectives=(
            Objective(
                name="opa-p95-latency",
                description="Policy evaluation p95 under 5 ms on each path.",
                sli=LatencySLI(MetricSelector("opa_evaluation_duration_seconds"), 0.95),
                by=by_impl,
                objective=Bound(max=0.005),
                warning=Bound(max=0.004),
                key=True,
                weight=2.0,
            ),
            Objective(
                name="cache-p95-latency",
                description="Decision-cache operation p95 under 0.5 ms on each path.",
                sli=LatencySLI(MetricSelector("cache_operation_duration_seconds"), 0.95),
                by=by_impl,
                objective=Bound(max=0.0005),
                warning=Bound(max=0.0004),
                weight=2.0,
            ),
            Objective(
                name="authz-within-5ms",
                description="At least 99 % of authorization decisions end-to-end within 5 ms.",
                sli=LatencyRatioSLI(MetricSelector("sark_authz_duration_seconds"), 0.005),
                by=by_impl,
                objective=Bound(min=0.99),
                warning=Bound(min=0.995),
            ),
            Objective(
                name="authz-error-rate",
                description="Fewer than 1 % of authorization decisions end in an error.",
                sli=ErrorRatioSLI(
                    errors=MetricSelector("sark_authz_requests_total", (Matcher("decision", "=", "error"),)),
                    total=requests,
                ),
                by=by_impl,
                objective=Bound(max=0.01),
                warning=Bound(max=0.005),
                key=True,
                weight=2.0,
            ),
            Objective(
                name="throughput",
                description="The gateway sustains at least 2,000 decisions a second.",
                sli=ThroughputSLI(requests),
                objective=Bound(min=2000),
            ),
            Objective(
                name="memory-growth",
                description="Resident memory grows less than 1 MiB an hour.",
                sli=MemoryGrowthSLI(MetricSelector("process_resident_memory_bytes"), per_seconds=3600.0),
                objective=Bound(max=1048576),
                warning=Bound(max=524288),
                no_data=NoData.WARN,
            ),
        ),
        alerting=Alerting(
            min_request_rate=1.0,
            dashboard_url="http://localhost:3000",
            page=AlertMetadata(labels={"severity": "critical"}),
            ticket=AlertMetadata(labels={"severity": "warning"}),
            extra_alerts=("rustFallbacks", "targetDown", "targetAbsent"),
        ),
    )
    assert load_spec(SARK_SPEC) == expected


def test_public_names() -> None:
    assert {"load_spec", "load_spec_text", "SLOSet", "Objective"} <= set(sloguard.spec.__all__)
    assert all(hasattr(sloguard.spec, name) for name in sloguard.spec.__all__)


# ---- each SLI kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sli", "expected"),
    [
        ("{latency: {metric: h_seconds, quantile: 0.99}}", LatencySLI(MetricSelector("h_seconds"), 0.99)),
        ("{latencyRatio: {metric: h_seconds, threshold: 0.25}}", LatencyRatioSLI(MetricSelector("h_seconds"), 0.25)),
        (
            "{errorRatio: {errors: 'r_total{code=~\"5..\"}', total: r_total}}",
            ErrorRatioSLI(MetricSelector("r_total", (Matcher("code", "=~", "5.."),)), MetricSelector("r_total")),
        ),
        (
            "{throughput: {metric: 'r_total{path!=\"/health\"}'}}",
            ThroughputSLI(MetricSelector("r_total", (Matcher("path", "!=", "/health"),))),
        ),
        ("{memoryGrowth: {metric: rss_bytes, per: 1d}}", MemoryGrowthSLI(MetricSelector("rss_bytes"), 86400.0)),
        ("{memoryGrowth: {metric: rss_bytes}}", MemoryGrowthSLI(MetricSelector("rss_bytes"), 3600.0)),
        ("{promql: {query: 'sum(rate(x[{{window}}]))'}}", PromQLSLI("sum(rate(x[{{window}}]))")),
    ],
)
def test_each_sli_kind(sli: str, expected: object) -> None:
    slo_set = load_spec_text(objectives("- name: a", f"  sli: {sli}", "  objective: {min: 0, max: 1}"))
    assert slo_set.objectives[0].sli == expected


def test_optional_fields_and_overrides() -> None:
    text = (
        "apiVersion: sloguard/v1\nkind: SLOSet\nmetadata: {name: t, labels: {team: authz}}\nspec:\n"
        "  service: s\n  selector: {job: sark, env: prod}\n  noData: warn\n  minEvents: 0\n"
        "  scoring: {pass: 90, warning: 75}\n  objectives:\n"
        "    - {name: a, sli: {throughput: {metric: x_total}}, objective: {min: 1}, minEvents: 5, noData: pass}\n"
        "    - {name: b, sli: {throughput: {metric: x_total}}, objective: {min: 1, max: 9},"
        " warning: {min: 1, max: 9}}\n"
    )
    slo_set = load_spec_text(text)
    assert slo_set.labels == {"team": "authz"}
    assert slo_set.selector == (Matcher("job", "=", "sark"), Matcher("env", "=", "prod"))
    assert (slo_set.no_data, slo_set.min_events) == (NoData.WARN, 0)
    assert slo_set.scoring == Scoring(pass_percent=90, warning_percent=75)
    first, second = slo_set.objectives
    assert (slo_set.min_events_for(first), slo_set.no_data_for(first)) == (5, NoData.PASS)
    assert (slo_set.min_events_for(second), slo_set.no_data_for(second)) == (0, NoData.WARN)
    assert second.warning == Bound(min=1, max=9)  # a warning equal to the objective is allowed
    assert (second.key, second.weight, second.by, second.description) == (False, 1.0, (), "")


def test_defaults() -> None:
    slo_set = load_spec_text(objectives("- {name: a, sli: {throughput: {metric: x_total}}, objective: {min: 1}}"))
    assert (slo_set.no_data, slo_set.min_events, slo_set.scoring, slo_set.selector) == (NoData.FAIL, 100, None, ())
    assert slo_set.source == "<string>"


def test_yaml_anchors_and_merge_keys_work() -> None:
    text = objectives(
        "- &base {name: a, sli: {throughput: {metric: x_total}}, objective: {min: 1}}",
        "- {<<: *base, name: b}",
    )
    assert [objective.name for objective in load_spec_text(text).objectives] == ["a", "b"]


# ---- validation rules: exact file:line and field path -----------------------------------------

_OK_SLI = "  sli: {throughput: {metric: x_total}}"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        # Type errors
        (
            ["- name: a", _OK_SLI, "  objective: {max: five}"],
            "f.yaml:9: objectives[0].objective.max: must be a number",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {max: '0.5'}"],
            "f.yaml:9: objectives[0].objective.max: must be a number",
        ),
        (["- name: a", _OK_SLI, "  objective: {max: true}"], "f.yaml:9: objectives[0].objective.max: must be a number"),
        (
            ["- name: a", _OK_SLI, "  objective: {max: .nan}"],
            "f.yaml:9: objectives[0].objective.max: must be a finite number",
        ),
        (["- name: a", _OK_SLI, "  objective: [1]"], "f.yaml:9: objectives[0].objective: must be a mapping"),
        (["- name: a", _OK_SLI, "  objective:"], "f.yaml:9: objectives[0].objective: must be a mapping"),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  key: 1"],
            "f.yaml:10: objectives[0].key: must be true or false",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  by: implementation"],
            "f.yaml:10: objectives[0].by: must be a list",
        ),
        (["- 42"], "f.yaml:7: objectives[0]: must be a mapping"),
        # Required fields: reported on the line of the mapping that lacks them
        (["- name: a", "  objective: {min: 1}"], "f.yaml:7: objectives[0].sli: is required"),
        ([f"- {_OK_SLI.strip()}", "  objective: {min: 1}"], "f.yaml:7: objectives[0].name: is required"),
        (["- name: a", _OK_SLI], "f.yaml:7: objectives[0].objective: is required"),
        # Unknown keys
        (
            ["- name: a", _OK_SLI, "  objectve: {min: 1}"],
            "f.yaml:9: objectives[0].objectve: unknown key (did you mean objective?)",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  colour: blue"],
            "f.yaml:10: objectives[0].colour: unknown key; expected one of name, description, sli, by, objective, "
            "warning, key, weight, minEvents, noData, decideOn, labels, alerting",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1, maximum: 2}"],
            "f.yaml:9: objectives[0].objective.maximum: unknown key (did you mean max?)",
        ),
        (
            ["- name: a", "  sli: {histogram: {metric: x}}", "  objective: {min: 1}"],
            "f.yaml:8: objectives[0].sli.histogram: unknown SLI kind; expected one of latency, latencyRatio, "
            "errorRatio, throughput, memoryGrowth, promql, promqlRatio",
        ),
        (
            ["- name: a", "  sli: {throughput: {metric: x_total, rate: 5m}}", "  objective: {min: 1}"],
            "f.yaml:8: objectives[0].sli.throughput.rate: unknown key; expected one of metric",
        ),
        # SLI: exactly one kind
        (
            ["- name: a", "  sli: {}", "  objective: {min: 1}"],
            "f.yaml:8: objectives[0].sli: must set exactly one SLI kind: latency, latencyRatio, errorRatio, "
            "throughput, memoryGrowth, promql, promqlRatio",
        ),
        (
            [
                "- name: a",
                "  sli:",
                "    throughput: {metric: x_total}",
                "    promql: {query: up}",
                "  objective: {min: 1}",
            ],
            "f.yaml:10: objectives[0].sli.promql: throughput is already set; an SLI has exactly one kind",
        ),
        # latency and latencyRatio
        (
            ["- name: a", "  sli: {latency: {metric: h, quantile: 1}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.quantile: must be less than 1",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: h, quantile: 0}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.quantile: must be greater than 0",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: h}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.quantile: is required",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: h_seconds_bucket, quantile: 0.5}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.metric: give the histogram's base name 'h_seconds', without _bucket; "
            "sloguard adds _bucket and _count itself",
        ),
        (
            ["- name: a", "  sli: {latencyRatio: {metric: h_count, threshold: 0.1}}", "  objective: {min: 0.9}"],
            "f.yaml:8: objectives[0].sli.latencyRatio.metric: give the histogram's base name 'h', without _count; "
            "sloguard adds _bucket and _count itself",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: h_sum, quantile: 0.5}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.metric: give the histogram's base name 'h', without _sum; "
            "sloguard adds _bucket and _count itself",
        ),
        (  # matchers are allowed (tests/unit/test_spec_matchers.py), the bucket's le is not
            ["- name: a", "  sli: {latency: {metric: 'h{a=\"b\",le=\"1\"}', quantile: 0.5}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.metric: an le matcher is sloguard's to write: a latency reads every "
            "bucket, a latencyRatio the bucket of its threshold",
        ),
        (
            ["- name: a", "  sli: {latencyRatio: {metric: 'h_bucket{a=\"b\"}', threshold: 1}}",
             "  objective: {min: 0}"],
            "f.yaml:8: objectives[0].sli.latencyRatio.metric: give the histogram's base name 'h', without _bucket; "
            "sloguard adds _bucket and _count itself",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: 'h{a=\"b\"', quantile: 0.5}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.metric: invalid selector at the end: expected \",\" or \"}\"",
        ),
        (
            ["- name: a", "  sli: {latency: {metric: my-hist, quantile: 0.5}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.latency.metric: 'my-hist' is not a valid Prometheus metric name "
            "([a-zA-Z_:][a-zA-Z0-9_:]*)",
        ),
        (
            ["- name: a", "  sli: {latencyRatio: {metric: h, threshold: 0}}", "  objective: {min: 0.9}"],
            "f.yaml:8: objectives[0].sli.latencyRatio.threshold: must be greater than 0",
        ),
        # selectors
        (
            ["- name: a", "  sli: {errorRatio: {errors: 'r{c=5}', total: r}}", "  objective: {max: 0.1}"],
            "f.yaml:8: objectives[0].sli.errorRatio.errors: invalid selector at character 5: "
            "expected a quoted label value",
        ),
        (
            [
                "- name: a",
                "  sli:",
                "    errorRatio:",
                "      errors: r",
                "      total: 'sum(r)'",
                "  objective: {max: 0.1}",
            ],
            "f.yaml:11: objectives[0].sli.errorRatio.total: invalid selector at character 4: unexpected '('",
        ),
        (
            ["- name: a", "  sli: {throughput: {metric: 5xx}}", "  objective: {min: 1}"],
            "f.yaml:8: objectives[0].sli.throughput.metric: invalid selector at character 1: expected a metric name "
            "([a-zA-Z_:][a-zA-Z0-9_:]*)",
        ),
        # memoryGrowth
        (
            ["- name: a", "  sli: {memoryGrowth: {metric: rss, per: 1hour}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.memoryGrowth.per: invalid duration '1hour': units are ms, s, m, h, d, w, y",
        ),
        (
            ["- name: a", "  sli: {memoryGrowth: {metric: rss, per: 0s}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.memoryGrowth.per: must be longer than zero",
        ),
        (
            ["- name: a", "  sli: {memoryGrowth: {metric: rss, per: 3600}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.memoryGrowth.per: must be a string",
        ),
        # promql
        (
            ["- name: a", "  sli: {promql: {query: ' '}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.promql.query: must not be empty",
        ),
        (
            ["- name: a", "  sli: {promql: {query: 'rate(x[{{range}}])'}}", "  objective: {max: 1}"],
            "f.yaml:8: objectives[0].sli.promql.query: unknown placeholder '{{range}}'; the only placeholder is "
            "{{window}}",
        ),
        # by
        (
            ["- name: a", _OK_SLI, "  by: [implementation, 'bad-label']", "  objective: {min: 1}"],
            "f.yaml:9: objectives[0].by[1]: 'bad-label' is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
        ),
        (
            ["- name: a", _OK_SLI, "  by: [__name__]", "  objective: {min: 1}"],
            "f.yaml:9: objectives[0].by[0]: '__name__': label names starting with __ are reserved by Prometheus",
        ),
        (
            ["- name: a", _OK_SLI, "  by:", "    - implementation", "    - implementation", "  objective: {min: 1}"],
            "f.yaml:11: objectives[0].by[1]: 'implementation' is listed twice",
        ),
        # bounds
        (["- name: a", _OK_SLI, "  objective: {}"], "f.yaml:9: objectives[0].objective: set min, max or both"),
        (
            ["- name: a", _OK_SLI, "  objective:", "    min: 5", "    max: 1"],
            "f.yaml:10: objectives[0].objective.min: must not be greater than max (1)",
        ),
        # warning must be at least as strict as the objective
        (
            ["- name: a", _OK_SLI, "  objective: {max: 10}", "  warning: {max: 11}"],
            "f.yaml:10: objectives[0].warning.max: must be at most objective.max (10): a warning is stricter",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 10}", "  warning: {min: 9.5}"],
            "f.yaml:10: objectives[0].warning.min: must be at least objective.min (10): a warning is stricter",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {max: 10}", "  warning: {min: 2}"],
            "f.yaml:10: objectives[0].warning.min: objective has no min; a warning bound must tighten a side the "
            "objective sets",
        ),
        # ratio SLIs take ratios, not percentages
        (
            ["- name: a", "  sli: {errorRatio: {errors: e, total: t}}", "  objective: {max: 1}", "  warning: {max: 5}"],
            "f.yaml:10: objectives[0].warning.max: must be between 0 and 1: errorRatio is a ratio (write 0.01 for 1 %)",
        ),
        (
            ["- name: a", "  sli: {latencyRatio: {metric: h, threshold: 0.1}}", "  objective: {min: 99}"],
            "f.yaml:9: objectives[0].objective.min: must be between 0 and 1: latencyRatio is a ratio (write 0.01 "
            "for 1 %)",
        ),
        # name, weight, minEvents, noData
        (
            ["- name: Opa_Latency", _OK_SLI, "  objective: {min: 1}"],
            "f.yaml:7: objectives[0].name: 'Opa_Latency' is not a valid name: use lowercase letters, digits and '-', "
            "starting with a letter or digit",
        ),
        (
            ["- name: -a", _OK_SLI, "  objective: {min: 1}"],
            "f.yaml:7: objectives[0].name: '-a' is not a valid name: use lowercase letters, digits and '-', "
            "starting with a letter or digit",
        ),
        (
            [
                "- name: a",
                _OK_SLI,
                "  objective: {min: 1}",
                "- name: b",
                _OK_SLI,
                "  objective: {min: 1}",
                "- name: a",
                _OK_SLI,
                "  objective: {min: 1}",
            ],
            "f.yaml:13: objectives[2].name: duplicate name 'a', already used by objectives[0]",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  weight: 0"],
            "f.yaml:10: objectives[0].weight: must be greater than 0",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  weight: -2"],
            "f.yaml:10: objectives[0].weight: must be greater than 0",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  minEvents: -1"],
            "f.yaml:10: objectives[0].minEvents: must be at least 0",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  minEvents: 1.5"],
            "f.yaml:10: objectives[0].minEvents: must be a whole number",
        ),
        (
            ["- name: a", _OK_SLI, "  objective: {min: 1}", "  noData: ignore"],
            "f.yaml:10: objectives[0].noData: must be one of 'fail', 'warn' or 'pass'",
        ),
    ],
)
def test_objective_rules(lines: list[str], message: str) -> None:
    assert error_of(objectives(*lines)) == message


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["noData: never"], "f.yaml:6: noData: must be one of 'fail', 'warn' or 'pass'"),
        (["minEvents: -5"], "f.yaml:6: minEvents: must be at least 0"),
        (["minEvents: '100'"], "f.yaml:6: minEvents: must be a whole number"),
        (["selector: {job: 1}"], "f.yaml:6: selector.job: must be a string"),
        (["selector: [job]"], "f.yaml:6: selector: must be a mapping"),
        (
            ["selector:", "  job: sark", "  my-env: prod"],
            "f.yaml:8: selector: key 'my-env': 'my-env' is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
        ),
        (["selector:", "  job: sark", "  5: prod"], "f.yaml:8: selector: key 5: must be a string"),
        (["scoring: {pass: 101, warning: 75}"], "f.yaml:6: scoring.pass: must be at most 100"),
        (["scoring: {pass: 90, warning: -1}"], "f.yaml:6: scoring.warning: must be at least 0"),
        (["scoring: {pass: 70, warning: 75}"], "f.yaml:6: scoring.warning: must not be greater than pass (70)"),
        (["scoring: {pass: 90}"], "f.yaml:6: scoring.warning: is required"),
        (
            ["extra: 1"],
            "f.yaml:6: extra: unknown key; expected one of service, selector, noData, minEvents, decideOn, scoring, "
            "alerting, variables, objectives",
        ),
        (["nodata: warn"], "f.yaml:6: nodata: unknown key (did you mean noData?)"),
    ],
)
def test_spec_rules(lines: list[str], message: str) -> None:
    assert error_of(spec_fields(*lines)) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD, "f.yaml:6: objectives: must be a list"),  # `objectives:` with nothing under it is null
        (
            HEAD.replace("  objectives:\n", "  objectives: []\n"),
            "f.yaml:6: objectives: must list at least one objective",
        ),
        (HEAD.replace("  objectives:\n", ""), "f.yaml:4: objectives: is required"),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}").replace(
                "  service: s\n", ""
            ),
            "f.yaml:4: service: is required",
        ),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}").replace(
                "service: s", "service: ''"
            ),
            "f.yaml:5: service: must not be empty",
        ),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}").replace(
                "service: s", "service: 42"
            ),
            "f.yaml:5: service: must be a string",
        ),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}").replace("{name: t}", "{}"),
            "f.yaml:3: metadata.name: is required",
        ),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}").replace(
                "{name: t}", "{name: t, labels: {team: [a]}}"
            ),
            "f.yaml:3: metadata.labels.team: must be a string",
        ),
        (HEAD.replace("spec:\n  service: s\n  objectives:\n", "spec: []\n"), "f.yaml:4: spec: must be a mapping"),
        (HEAD.replace("spec:\n  service: s\n  objectives:\n", ""), "f.yaml:1: spec: is required"),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}") + "status: {}\n",
            "f.yaml:8: status: unknown key; expected one of apiVersion, kind, metadata, spec",
        ),
    ],
)
def test_document_rules(text: str, message: str) -> None:
    assert error_of(text) == message


# ---- apiVersion and kind ----------------------------------------------------------------------

_VALID = objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "apiVersion: sloguard/v1",
            "apiVersion: sloguard/v2",
            "f.yaml:1: apiVersion: unsupported version 'sloguard/v2'; this sloguard reads sloguard/v1",
        ),
        (
            "apiVersion: sloguard/v1",
            "apiVersion: sloguard/v1beta1",
            "f.yaml:1: apiVersion: unsupported version 'sloguard/v1beta1'; this sloguard reads sloguard/v1",
        ),
        (
            "apiVersion: sloguard/v1",
            "apiVersion: openslo/v1",
            "f.yaml:1: apiVersion: must be sloguard/v1, got 'openslo/v1'",
        ),
        ("apiVersion: sloguard/v1", "apiVersion: 1", "f.yaml:1: apiVersion: must be sloguard/v1, got 1"),
        ("apiVersion: sloguard/v1\n", "", "f.yaml:1: apiVersion: is required (expected sloguard/v1)"),
        ("kind: SLOSet", "kind: SLO", "f.yaml:2: kind: must be SLOSet, got 'SLO'"),
        ("kind: SLOSet\n", "", "f.yaml:1: kind: is required (expected SLOSet)"),
    ],
)
def test_api_version_and_kind(old: str, new: str, message: str) -> None:
    assert error_of(_VALID.replace(old, new, 1)) == message


def test_version_error_wins_over_field_errors() -> None:
    text = "apiVersion: sloguard/v2\nkind: SLOSet\nmetadata: {name: t}\nspec: {slos: []}\n"
    assert error_of(text).startswith("f.yaml:1: apiVersion: unsupported version 'sloguard/v2'")


# ---- duplicates, YAML, files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _VALID.replace("kind: SLOSet\n", "kind: SLOSet\nkind: SLOSet\n"),
            "f.yaml:3: kind: duplicate key (first at line 2)",
        ),
        (
            _VALID.replace("  service: s\n", "  service: s\n  service: t\n"),
            "f.yaml:6: service: duplicate key (first at line 5)",
        ),
        (
            objectives("- name: a", _OK_SLI, "  objective: {min: 1}", "  objective: {min: 2}"),
            "f.yaml:10: objectives[0].objective: duplicate key (first at line 9)",
        ),
        (
            objectives("- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1, min: 2}}"),
            "f.yaml:7: objectives[0].objective.min: duplicate key (first at line 7)",
        ),
        (
            _VALID.replace("kind: SLOSet\n", "kind: SLOSet\n'kind': SLOSet\n"),
            "f.yaml:3: kind: duplicate key (first at line 2)",
        ),
    ],
)
def test_duplicate_keys(text: str, message: str) -> None:
    assert error_of(text) == message


def test_the_first_duplicate_in_the_file_is_reported() -> None:
    text = objectives(
        "- name: a",
        "  name: a",
        _OK_SLI,
        "  objective: {min: 1}",
        "  objective: {min: 1}",
    ).replace("  service: s\n", "  service: s\n  service: s\n")
    text = text.replace("metadata: {name: t}", "metadata: {name: t, name: t}")
    assert error_of(text) == "f.yaml:3: metadata.name: duplicate key (first at line 3)"


def test_merge_key_override_is_not_a_duplicate() -> None:
    text = objectives(
        "- &a {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}}",
        "- {<<: *a, name: b, objective: {min: 2}}",
    )
    assert load_spec_text(text).objectives[1].objective == Bound(min=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.yaml:1: empty spec; expected apiVersion, kind, metadata, spec"),
        ("# only a comment\n\n", "f.yaml:1: empty spec; expected apiVersion, kind, metadata, spec"),
        ("---\n", "f.yaml:1: empty spec; expected apiVersion, kind, metadata, spec"),
        ("- a\n- b\n", "f.yaml:1: the top level must be a mapping with apiVersion, kind, metadata, spec"),
        ("\n\njust text\n", "f.yaml:3: the top level must be a mapping with apiVersion, kind, metadata, spec"),
        ("a: {b: c\nd: e\n", "f.yaml:2: invalid YAML: expected ',' or '}', but got ':'"),
        ("a: 1\n\tb: 2\n", "f.yaml:2: invalid YAML: found character '\\t' that cannot start any token"),
        (
            "a: 1\n---\nb: 2\n",
            "f.yaml:2: invalid YAML: expected a single document in the stream, but found another document",
        ),
        ("a: *nowhere\n", "f.yaml:1: invalid YAML: found undefined alias 'nowhere'"),
        (
            "a: !!python/object:os.system {}\n",
            "f.yaml:1: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: 1\nb: 2024-13-45\n", "f.yaml:2: invalid YAML: cannot read this value: month must be in 1..12"),
        ('a: 1\nb: "\\ud800"\n', "f.yaml:2: invalid YAML: a lone surrogate escape is not a valid character"),
        ("a: 1\nb: x\x07y\n", "f.yaml:2: invalid YAML: special character '\\x07' is not allowed"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "f.yaml:1: invalid YAML: nested too deeply"),
        ("? [a]\n: 1\n", "f.yaml:1: invalid YAML: found unhashable key"),
    ],
)
def test_yaml_problems(text: str, message: str) -> None:
    assert error_of(text) == message


def test_several_problems_report_the_first_in_the_file_and_count_the_rest() -> None:
    text = objectives(
        "- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}, weight: 0}",
        "- {name: B, sli: {throughput: {metric: x}}, objective: {min: x}}",
    )
    assert error_of(text) == "f.yaml:7: objectives[0].weight: must be greater than 0 (and 2 more problems)"


def test_user_text_cannot_break_the_one_line_message() -> None:
    text = objectives('- {name: a, sli: {throughput: {metric: x}}, objective: {min: 1}, "a\\nb": 1}')
    assert error_of(text).startswith("f.yaml:7: objectives[0]['a\\nb']: unknown key")
    text = objectives('- {name: "a\\nb\\u2028c", sli: {throughput: {metric: x}}, objective: {min: 1}}')
    assert error_of(text) == (
        "f.yaml:7: objectives[0].name: 'a\\nb\\u2028c' is not a valid name: use lowercase letters, digits and '-', "
        "starting with a letter or digit"
    )


def test_block_style_reports_the_key_line() -> None:
    text = objectives(
        "- name: a", "  sli:", "    latency:", "      metric: h", "      quantile: 2", "  objective: {max: 1}"
    )
    assert error_of(text) == "f.yaml:11: objectives[0].sli.latency.quantile: must be less than 1"


def test_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(_VALID)
    assert load_spec(good).source == str(good)
    assert load_spec(str(good)).objectives[0].name == "a"

    with pytest.raises(SpecError, match=r"^.*missing\.yaml: no such file$"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match=r": is a directory, not a spec file$"):
        load_spec(tmp_path)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(_VALID.encode() + b"# caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin1\.yaml:8: not UTF-8 text \(byte 0xe9\); save the file as UTF-8$"):
        load_spec(latin1)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + _VALID.encode())
    assert load_spec(bom).name == "t"
    crlf = tmp_path / "crlf.yaml"
    crlf.write_bytes(_VALID.replace("min: 1", "min: x").replace("\n", "\r\n").encode())
    with pytest.raises(SpecError, match=r"crlf\.yaml:7: objectives\[0\]\.objective\.min: must be a number$"):
        load_spec(crlf)


def _load_spec_as(uid: int, path: Path) -> str:
    """load_spec in a forked child running as `uid`: root reads any file, nobody does not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        try:
            os.setgid(uid)
            os.setuid(uid)
            try:
                load_spec(path)
                message = "loaded"
            except SpecError as exc:
                message = str(exc)
        except BaseException as exc:
            message = f"child failed: {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_unreadable_file() -> None:
    # A world-traversable directory, so the file's own mode is what refuses the read.
    directory = Path(tempfile.mkdtemp())
    try:
        directory.chmod(0o755)
        spec = directory / "secret.yaml"
        spec.write_text(_VALID)
        spec.chmod(0)
        if os.geteuid() == 0:
            message = _load_spec_as(65534, spec)  # nobody
        else:
            with pytest.raises(SpecError) as caught:
                load_spec(spec)
            message = str(caught.value)
        assert re.search(r"secret\.yaml: permission denied$", message), message
    finally:
        shutil.rmtree(directory)


# ---- the `validate` command -------------------------------------------------------------------


def test_cli_validate_sark_spec() -> None:
    result = CliRunner().invoke(cli, ["validate", str(SARK_SPEC)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{SARK_SPEC}: valid (6 objectives)\n"


def test_cli_validate_bad_spec(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(objectives("- name: a", _OK_SLI, "  objective: {max: five}"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2
    assert result.stderr == f"sloguard: error: {bad}:9: objectives[0].objective.max: must be a number\n"
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _sloguard() -> str:
    script = Path(sys.executable).parent / "sloguard"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}; pip install -e .")
    return str(script)


def test_console_script_validate(tmp_path: Path) -> None:
    ok = subprocess.run(
        [_sloguard(), "validate", "sloguard.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "sloguard.yaml: valid (6 objectives)\n", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloguard/v2\n")
    failed = subprocess.run([_sloguard(), "validate", str(bad)], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr == (
        f"sloguard: error: {bad}:1: apiVersion: unsupported version 'sloguard/v2'; this sloguard reads sloguard/v1\n"
    )


def test_help_does_not_import_pydantic_or_yaml() -> None:
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sloguard.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in ('pydantic', 'yaml', 'sloguard.spec.loader') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


# ---- spec variables ---------------------------------------------------------------------------

VARIABLE_SPEC = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: v}
spec:
  service: sark
  variables: {minThroughput: 2000}
  objectives:
    - name: throughput
      sli: {throughput: {metric: sark_authz_requests_total}}
      objective: {min: "${minThroughput}"}
"""


def test_a_variable_reference_takes_the_declared_default() -> None:
    [objective] = load_spec_text(VARIABLE_SPEC, "v.yaml").objectives
    assert objective.objective.min == 2000


def test_a_variable_override_replaces_the_default() -> None:
    [objective] = load_spec_text(VARIABLE_SPEC, "v.yaml", {"minThroughput": 90}).objectives
    assert objective.objective.min == 90


def test_an_unknown_variable_reference_names_its_line() -> None:
    with pytest.raises(SpecError, match=r"^v\.yaml:10: \$\{minRate\}: no such variable"):
        load_spec_text(VARIABLE_SPEC.replace("${minThroughput}", "${minRate}"), "v.yaml")


def test_an_override_of_an_undeclared_variable_is_an_error() -> None:
    with pytest.raises(SpecError, match="variable other is not declared"):
        load_spec_text(VARIABLE_SPEC, "v.yaml", {"other": 1})
