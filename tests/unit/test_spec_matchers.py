"""Label matchers in the metric of latency and latencyRatio SLIs: parsed, merged with spec.selector, everywhere.

A by-less objective per implementation (`metric: 'h{implementation="rust"}'`) must reach every
query sloguard builds from it: the check's, the rules', the panels', and Sloth and OpenSLO exports.
"""

from __future__ import annotations

import pytest
import yaml

from sloguard import dashboards, promql, rules
from sloguard.errors import SpecError
from sloguard.exporters import export_openslo, export_sloth
from sloguard.importers import import_openslo
from sloguard.spec import windows as burn_windows
from sloguard.spec.loader import load_spec_text
from sloguard.spec.model import LatencyRatioSLI, LatencySLI, Matcher, MetricSelector, PromQLRatioSLI, SLOSet

RUST = Matcher("implementation", "=", "rust")


def spec(objectives: str, selector: str = "{job: sark}") -> SLOSet:
    """A spec whose first objective is on line 8."""
    return load_spec_text(
        "apiVersion: sloguard/v1\nkind: SLOSet\nmetadata: {name: t}\nspec:\n  service: sark\n"
        f"  selector: {selector}\n  objectives:\n{objectives}", "t.yaml",
    )


def latency(metric: str, bound: float = 0.005, name: str = "p95") -> str:
    return (f"    - {{name: {name}, sli: {{latency: {{metric: '{metric}', quantile: 0.95}}}}, "
            f"objective: {{max: {bound}}}}}\n")


def ratio(metric: str, name: str = "fast") -> str:
    return (f"    - {{name: {name}, sli: {{latencyRatio: {{metric: '{metric}', threshold: 0.005}}}}, "
            "objective: {min: 0.99}}\n")


def error_of(objectives: str, selector: str = "{job: sark}") -> str:
    with pytest.raises(SpecError) as caught:
        spec(objectives, selector)
    return str(caught.value)


# ---- the spec ---------------------------------------------------------------------------------


def test_latency_and_latency_ratio_take_matchers_into_the_model() -> None:
    slo_set = spec(latency('h_seconds{implementation="rust", path!~"/health|/ready"}')
                   + ratio('h_seconds{tool="say \\"hi\\""}'))
    p95, fast = slo_set.objectives
    assert p95.sli == LatencySLI(MetricSelector("h_seconds", (RUST, Matcher("path", "!~", "/health|/ready"))), 0.95)
    assert fast.sli == LatencyRatioSLI(MetricSelector("h_seconds", (Matcher("tool", "=", 'say "hi"'),)), 0.005)


def test_a_plain_histogram_name_still_loads_as_before() -> None:
    (p95,) = spec(latency("h_seconds")).objectives
    assert p95.sli == LatencySLI(MetricSelector("h_seconds"), 0.95)


def test_rust_and_python_get_different_bounds_without_by() -> None:
    slo_set = spec(latency('opa_seconds{implementation="rust"}', 0.001, "rust")
                   + latency('opa_seconds{implementation="python"}', 0.005, "python"))
    rust, python = slo_set.objectives
    assert (rust.by, python.by) == ((), ())
    assert (rust.objective.max, python.objective.max) == (0.001, 0.005)
    queries = [promql.objective_queries(slo_set, o, 600).value for o in slo_set.objectives]
    assert 'opa_seconds_bucket{job="sark",implementation="rust"}[600s]' in queries[0]
    assert 'opa_seconds_bucket{job="sark",implementation="python"}[600s]' in queries[1]


def test_a_matcher_that_contradicts_spec_selector_is_an_error_at_its_line() -> None:
    assert error_of("    - name: a\n      sli: {latency: {metric: 'h{job=\"other\"}', quantile: 0.9}}\n"
                    "      objective: {max: 1}\n") == (
        "t.yaml:9: objectives[0].sli.latency.metric: spec.selector already sets job='sark'; a job matcher here "
        "would match nothing or repeat it: drop it, or move the label out of spec.selector"
    )


@pytest.mark.parametrize("matcher", ['job!="x"', 'job=~"sark|other"', 'job!~"x"'])
def test_any_other_matcher_on_a_pinned_label_is_an_error_too(matcher: str) -> None:
    message = error_of(ratio(f"h{{{matcher}}}"))
    assert message.startswith("t.yaml:8: objectives[0].sli.latencyRatio.metric: spec.selector already sets job=")


def test_the_same_rule_holds_for_the_selectors_of_every_kind() -> None:
    errors = ("    - name: e\n      sli: {errorRatio: {errors: 'r_total{decision=\"error\"}', "
              "total: 'r_total{env=\"dev\"}'}}\n      objective: {max: 0.1}\n")
    assert error_of(errors, "{job: sark, env: prod}").startswith(
        "t.yaml:9: objectives[0].sli.errorRatio.total: spec.selector already sets env='prod'")
    growth = "    - {name: g, sli: {memoryGrowth: {metric: 'rss{job=\"x\"}'}}, objective: {max: 1}}\n"
    assert error_of(growth).startswith("t.yaml:8: objectives[0].sli.memoryGrowth.metric: spec.selector already")


def test_repeating_spec_selector_is_allowed_and_written_once() -> None:
    slo_set = spec(latency('h{job="sark",implementation="rust"}'))
    value = promql.objective_queries(slo_set, slo_set.objectives[0], 60).value
    assert 'h_bucket{job="sark",implementation="rust"}[60s]' in value


# ---- the queries ------------------------------------------------------------------------------


def test_matchers_go_on_bucket_and_count_and_le_stays_sloguards_and_last() -> None:
    slo_set = spec(latency('h{implementation="rust"}') + ratio('h{implementation="rust"}'))
    p95, fast = (promql.objective_queries(slo_set, o, 600) for o in slo_set.objectives)
    assert p95.value == ('histogram_quantile(0.95, sum by (le) '
                         '(increase(h_bucket{job="sark",implementation="rust"}[600s])))')
    assert p95.events == 'sum(increase(h_count{job="sark",implementation="rust"}[600s]))'
    assert fast.value == ('sum(increase(h_bucket{job="sark",implementation="rust",le="0.005"}[600s])) / '
                          'sum(increase(h_count{job="sark",implementation="rust"}[600s]))')


def test_matcher_values_are_escaped_in_every_query() -> None:
    slo_set = spec(ratio('h{tool="a\\\\b \\"c\\""}'), selector="{}")
    (fast,) = slo_set.objectives
    assert fast.sli.histogram.matchers == (Matcher("tool", "=", 'a\\b "c"'),)  # type: ignore[union-attr]
    escaped = 'tool="a\\\\b \\"c\\""'
    assert f"h_count{{{escaped}}}" in promql.objective_queries(slo_set, fast, 60).value
    assert f"h_count{{{escaped}}}" in promql.sli_error_ratio(slo_set, fast, "5m")


def test_rules_read_the_matched_histogram_only_and_panels_read_each_objectives_rules() -> None:
    slo_set = spec(latency('h{implementation="rust"}') + ratio('h{implementation="python"}'))
    windows = burn_windows.windows_for(slo_set, None)
    rule_exprs = [rule.expr for rule in rules.generate(slo_set, windows).rules()]
    for suffix in ("_bucket", "_count"):
        mentions = [e for e in rule_exprs if f"h{suffix}" in e]
        assert mentions, (suffix, rule_exprs)
        assert all(f'h{suffix}{{job="sark",implementation="' in e for e in mentions), mentions
    assert any('h_bucket{job="sark",implementation="rust"}' in e for e in rule_exprs)
    assert any('h_bucket{job="sark",implementation="python",le="0.005"}' in e for e in rule_exprs)
    panel_exprs = [expr for _, _, expr in dashboards.panel_queries(slo_set, windows)]
    for objective in ("p95", "fast"):  # the panels read the recorded series of the rules above
        assert any(f'sloth_id="sark-{objective}"' in e for e in panel_exprs), panel_exprs


# ---- export and import ------------------------------------------------------------------------


def test_sloth_export_keeps_the_matchers_on_both_sides() -> None:
    slo_set = spec(ratio('h{implementation="rust"}'))
    (slo,) = yaml.safe_load(export_sloth([slo_set]).text)["slos"]
    assert slo["sli"]["events"] == {
        "error_query": '(sum(rate(h_count{job="sark",implementation="rust"}[{{.window}}])) - '
                       'sum(rate(h_bucket{job="sark",implementation="rust",le="0.005"}[{{.window}}])))',
        "total_query": 'sum(rate(h_count{job="sark",implementation="rust"}[{{.window}}]))',
    }


def test_openslo_export_keeps_the_matchers_and_imports_back_as_latency_ratio() -> None:
    slo_set = spec(ratio('h{implementation="rust"}'))
    exported = export_openslo([slo_set]).text
    _, fast = yaml.safe_load_all(exported)
    ratio_metric = fast["spec"]["indicator"]["spec"]["ratioMetric"]
    good = 'h_bucket{job="sark",implementation="rust",le="0.005"}'
    assert ratio_metric["good"]["metricSource"]["spec"]["query"] == good
    assert ratio_metric["total"]["metricSource"]["spec"]["query"] == 'h_count{job="sark",implementation="rust"}'
    again = load_spec_text(import_openslo(exported, "exported.yaml").text)
    assert again.objectives[0].sli == LatencyRatioSLI(
        MetricSelector("h", (Matcher("job", "=", "sark"), RUST)), 0.005)


def _openslo(good: str, total: str) -> object:
    text = ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: fast}\nspec:\n  service: svc\n"
            "  indicator:\n    metadata: {name: i}\n    spec:\n      ratioMetric:\n"
            f"        good: {{metricSource: {{type: Prometheus, spec: {{query: '{good}'}}}}}}\n"
            f"        total: {{metricSource: {{type: Prometheus, spec: {{query: '{total}'}}}}}}\n"
            "  objectives: [{target: 0.99}]\n")
    return load_spec_text(import_openslo(text, "in.yaml").text).objectives[0].sli


def test_openslo_bucket_over_count_with_the_same_matchers_imports_as_latency_ratio() -> None:
    assert _openslo('h_bucket{le="0.25",a="b",c=~"d"}', 'h_count{c=~"d",a="b"}') == LatencyRatioSLI(
        MetricSelector("h", (Matcher("c", "=~", "d"), Matcher("a", "=", "b"))), 0.25)
    assert _openslo('h_bucket{le=~"1\\\\.0|1"}', "h_count") == LatencyRatioSLI(MetricSelector("h"), 1.0)


@pytest.mark.parametrize(("good", "total"), [
    ('h_bucket{le="0.25",a="b"}', 'h_count{a="c"}'),  # other observations on each side
    ('h_bucket{le="0.25",a="b"}', "h_count"),
    ('h_bucket{le="0.25"}', 'h_count{a="b"}'),
    ('h_bucket{le!="0.25"}', "h_count"),
])
def test_openslo_bucket_over_a_different_count_stays_a_promql_ratio(good: str, total: str) -> None:
    assert isinstance(_openslo(good, total), PromQLRatioSLI)
