"""`sloguard import sloth|openslo`: the specs in tests/data/import become sloguard specs that mean the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.errors import SpecError, UsageError
from sloguard.importers import import_openslo, import_sloth, queries
from sloguard.spec.loader import load_spec, load_spec_text
from sloguard.spec.model import (
    AlertMetadata,
    Bound,
    ErrorRatioSLI,
    LatencyRatioSLI,
    Matcher,
    MetricSelector,
    ObjectiveAlerting,
    PromQLRatioSLI,
    PromQLSLI,
    SLOSet,
)
from sloguard.spec.selector import parse_selector
from tests.support.clirun import run_sloguard

DATA = Path(__file__).resolve().parents[1] / "data" / "import"


def sloth(name: str) -> list[SLOSet]:
    return [load_spec_text(spec.text, name) for spec in import_sloth((DATA / name).read_text(), name)]


def openslo(name: str) -> SLOSet:
    return load_spec_text(import_openslo((DATA / name).read_text(), name).text, name)


def sloth_text(slos: str, head: str = "version: prometheus/v1\nservice: a\n") -> str:
    return head + "slos:\n" + slos


# ---- Sloth --------------------------------------------------------------------------------------


def test_sloth_events_grouped_events_raw_and_alerting() -> None:
    (slo_set,) = sloth("sloth-sark.yaml")
    assert slo_set.labels == {"owner": "platform"}
    errors, by_path, cache = slo_set.objectives
    assert isinstance(errors.sli, ErrorRatioSLI)
    assert errors.sli.errors.matchers == (Matcher("job", "=", "sark"), Matcher("decision", "=", "error"))
    assert errors.objective == Bound(max=0.001)  # 99.9 % -> 0.1 % budget
    assert errors.alerting == ObjectiveAlerting(
        name="SarkAuthzErrors",
        page=AlertMetadata(labels={"severity": "pageteam"}),
        ticket=AlertMetadata(labels={"severity": "slack"}),
    )
    assert by_path.by == ("implementation",) and isinstance(by_path.sli, ErrorRatioSLI)  # `{{ .window }}` too
    assert by_path.objective == Bound(max=0.01)
    # A raw SLI is the error ratio itself, kept whole (line breaks folded), {{.window}} -> {{window}}.
    assert cache.sli == PromQLRatioSLI(error_ratio_query=(
        'sum(rate(cache_operations_total{result="error"}[{{window}}])) / sum(rate(cache_operations_total[{{window}}]))'
    ))
    assert cache.objective == Bound(max=0.005)


def test_sloth_multi_document_file_gives_one_spec_per_service_and_merges_a_service() -> None:
    checkout, ledger = sloth("sloth-multi.yaml")
    assert (checkout.service, ledger.service) == ("checkout", "ledger")
    assert checkout.labels == {"team": "payments", "tier": "1"}  # service labels -> metadata.labels
    assert [o.name for o in checkout.objectives] == ["orders-availability", "orders-latency", "refunds-availability"]
    orders, latency, refunds = checkout.objectives
    assert orders.labels == {"category": "availability"}  # SLO labels -> objectives[].labels
    assert orders.objective == Bound(max=0.0005)
    assert orders.alerting == ObjectiveAlerting(
        name="CheckoutOrdersErrors",
        common=AlertMetadata(labels={"category": "availability"},
                             annotations={"summary": "Checkout orders fail too often"}),
        page=AlertMetadata(labels={"severity": "pageteam", "routing_key": "payments"},
                           annotations={"runbook": "https://runbooks.example.org/checkout/orders"}),
        ticket=AlertMetadata(labels={"severity": "slack", "channel": "payments-alerts"}),
    )
    assert latency.alerting.ticket.disable and not latency.alerting.page.disable
    # count - bucket is not a plain sum(rate(...)): kept as a promqlRatio, folded onto one line.
    assert latency.sli == PromQLRatioSLI(
        error_query="( sum(rate(checkout_order_duration_seconds_count[{{window}}])) - "
                    'sum(rate(checkout_order_duration_seconds_bucket{le="0.25"}[{{window}}])) )',
        total_query="sum(rate(checkout_order_duration_seconds_count[{{window}}]))",
    )
    assert refunds.by == ("region",) and isinstance(refunds.sli, ErrorRatioSLI)
    writes, freshness = ledger.objectives
    assert writes.sli == PromQLRatioSLI(
        error_query='sum(rate(ledger_writes_total{result="error"}[{{window}}])) or on() vector(0)',
        total_query="sum(rate(ledger_writes_total[{{window}}]))",
    )
    assert freshness.sli == PromQLRatioSLI(error_ratio_query="max_over_time((1 - ledger_sync_ok)[{{window}}:1m])")
    assert freshness.alerting.page.disable and freshness.alerting.ticket.disable


def test_imported_specs_ask_for_no_guard_and_no_extra_alerts() -> None:
    for slo_set in sloth("sloth-multi.yaml"):
        assert slo_set.alerting.min_request_rate == 0 and slo_set.alerting.extra_alerts == ()
        assert "alerting" not in yaml.safe_load(import_sloth((DATA / "sloth-multi.yaml").read_text())[0].text)["spec"]


def test_sloth_kubernetes_crd_reads_camel_case_fields() -> None:
    search, suggest = sloth("sloth-crd.yaml")
    assert (search.name, search.service, search.labels) == ("search-slos", "search", {"owner": "discovery"})
    queries_slo, lag = search.objectives
    assert queries_slo.sli == ErrorRatioSLI(parse_selector('search_queries_total{outcome="error"}'),
                                            parse_selector("search_queries_total"))
    assert queries_slo.alerting.page.labels == {"severity": "pageteam"}
    assert lag.sli == PromQLRatioSLI(error_ratio_query="avg_over_time(search_index_stale_ratio[{{window}}])")
    assert lag.labels == {"category": "freshness"} and lag.alerting.ticket.disable
    assert suggest.objectives[0].objective == Bound(max=0.01)


def test_sloth_crd_namespace_is_a_warning() -> None:
    (search, _suggest) = import_sloth((DATA / "sloth-crd.yaml").read_text(), "crd.yaml")
    assert search.warnings == ("crd.yaml: document 1: metadata.namespace 'observability' is not kept: a sloguard "
                               "spec has no namespace",)


@pytest.mark.parametrize(
    ("error_query", "total_query", "plain"),
    [
        ("sum(rate(a_total{x='1'}[{{.window}}]))", "sum(rate(a_total[{{.window}}]))", True),
        ("(sum(increase(a_total{x='1'}[{{.window}}])))", "sum(increase(a_total[{{.window}}]))", True),
        ("sum by (b, c) (rate(a_total{x='1'}[{{.window}}]))", "sum by (c, b) (rate(a_total[{{.window}}]))", True),
        # Not an errorRatio: the two sides would not divide to the same ratio, or read something else.
        ("sum(increase(a_total{x='1'}[{{.window}}]))", "sum(rate(a_total[{{.window}}]))", False),
        ("sum by (b) (rate(a_total{x='1'}[{{.window}}]))", "sum(rate(a_total[{{.window}}]))", False),
        ("sum without (b) (rate(a_total{x='1'}[{{.window}}]))", "sum without (b) (rate(a_total[{{.window}}]))",
         False),
        ("sum(rate(a_total{x='1'}[{{.window}}] offset 1h))", "sum(rate(a_total[{{.window}}] offset 1h))", False),
        ("sum(rate(a_total{x='1'}[{{.window}}:1m]))", "sum(rate(a_total[{{.window}}:1m]))", False),
        ("sum(rate({__name__='a_total', x='1'}[{{.window}}]))", "sum(rate(a_total[{{.window}}]))", False),
        ("sum(rate(a_total{x='1'}[5m])) + 0 * sum(rate(a_total[{{.window}}]))", "sum(rate(a_total[{{.window}}]))",
         False),
        ("max(rate(a_total{x='1'}[{{.window}}]))", "max(rate(a_total[{{.window}}]))", False),
    ],
)
def test_sloth_plain_events_become_error_ratios_and_anything_else_promql_ratios(
    error_query: str, total_query: str, plain: bool
) -> None:
    text = sloth_text(f'  - name: x\n    objective: 99\n    sli: {{events: {{error_query: "{error_query}", '
                      f'total_query: "{total_query}"}}}}\n')
    (slo_set,) = [load_spec_text(spec.text) for spec in import_sloth(text, "in.yaml")]
    sli = slo_set.objectives[0].sli
    if plain:
        assert sli == ErrorRatioSLI(MetricSelector("a_total", (Matcher("x", "=", "1"),)), MetricSelector("a_total"))
    else:
        assert sli == PromQLRatioSLI(error_query=queries.from_sloth(error_query),
                                     total_query=queries.from_sloth(total_query))


def test_counter_sum_reads_the_syntax_tree_not_the_spelling() -> None:
    assert queries.counter_sum('sum by(a)(\n  rate( m_total{ b = "c\\"d" }[{{window}}] ) )') == queries.CounterSum(
        MetricSelector("m_total", (Matcher("b", "=", 'c"d'),)), ("a",), "rate"
    )
    assert queries.counter_sum("sum(rate(m_total[5m]))") is None  # a fixed window is not the placeholder
    assert queries.counter_sum("sum(rate(m_total{a='b' or c='d'}[{{window}}]))") is None
    assert queries.counter_sum("sum(rate(m_total[{{window}}] @ 100))") is None
    assert queries.counter_sum("sum(rate(m_total[{{window}}]") is None  # not PromQL: kept verbatim


def test_sloth_names_are_made_sloguard_names_with_a_warning() -> None:
    text = sloth_text("  - {name: Requests_Availability, objective: 99.5, sli: {raw: {error_ratio_query: "
                      "'x[{{.window}}]'}}}\n")
    (spec,) = import_sloth(text, "in.yaml")
    assert load_spec_text(spec.text).objectives[0].name == "requests-availability"
    assert spec.warnings == ("in.yaml: slos[0] (Requests_Availability): named 'requests-availability': sloguard "
                             "names are lowercase letters, digits and '-', so sloth_slo and sloth_id differ from "
                             "Sloth's",)


def test_keys_sloth_does_not_define_are_ignored_with_a_warning() -> None:
    text = sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}, "
                      "alerting: {name: X, page_alert: {silence: true}}, owner: me}\n")
    (spec,) = import_sloth(text, "in.yaml")
    assert spec.warnings == ("in.yaml: slos[0] (x): unknown key 'owner' ignored",
                             "in.yaml: slos[0] (x).alerting.page_alert: unknown key 'silence' ignored")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: prometheus/v2\nservice: a\nslos: []\n", "in.yaml: version 'prometheus/v2' is not prometheus/v1"),
        ("apiVersion: v1\nkind: ConfigMap\n", "in.yaml: neither a Sloth spec"),
        ("version: prometheus/v1\nservice: a\nslos: []\n", "in.yaml: no SLO found to import"),
        ("version: prometheus/v1\nslos: []\n", "in.yaml: service: is required"),
        (sloth_text("  - {name: x, objective: 120, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n"),
         r"slos\[0\] \(x\).objective: must be a percentage over 0 and at most 100, got 120"),
        (sloth_text("  - {name: x, objective: '99', sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n"),
         "objective: expected a number, got str"),
        (sloth_text("  - {name: x, objective: 99, sli: {plugin: {id: sloth-common/availability}}}\n"),
         "SLI plugin 'sloth-common/availability' cannot be imported"),
        (sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}, "
                    "plugins: {chain: [{id: my/plugin}]}}\n"), r"plugins: SLO plugins \('my/plugin'\)"),
        (sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n",
                    "version: prometheus/v1\nservice: a\nslo_plugins: {chain: [{id: p}]}\n"),
         "slo_plugins: SLO plugins"),
        (sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[5m]'}}}\n"),
         r"error_ratio_query: has no \{\{.window\}\}"),
        (sloth_text("  - {name: x, objective: 99, sli: {}}\n"), "set exactly one of events, raw or plugin"),
        (sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n"
                    "  - {name: X, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n"),
         "name 'X' is already used by SLO 'x'"),
        (sloth_text("  - {name: x, objective: 99, labels: [a], sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n"),
         "labels: expected a mapping, got list"),
        ("- a\n", "expected a YAML mapping, got list"),
        ("a: [\n", "invalid YAML"),
        ("", "no YAML document to import"),
    ],
)
def test_unimportable_sloth_input_is_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        import_sloth(text, "in.yaml")
    assert "\n" not in str(caught.value)


def test_documents_of_one_service_must_agree_on_its_labels() -> None:
    one = sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}}\n",
                     "version: prometheus/v1\nservice: a\nlabels: {team: x}\n")
    other = one.replace("team: x", "team: y").replace("name: x", "name: y")
    with pytest.raises(UsageError, match=r"in.yaml: document 2: service 'a' has labels \{'team': 'y'\} but "
                                         r"in.yaml: document 1 gave it \{'team': 'x'\}"):
        import_sloth(f"{one}---\n{other}", "in.yaml")


def test_a_mapping_sloguard_refuses_is_a_spec_error_naming_the_import() -> None:
    text = sloth_text("  - {name: x, objective: 99, sli: {raw: {error_ratio_query: 'x[{{.window}}]'}}, "
                      "alerting: {labels: {sloth_team: a}}}\n")
    with pytest.raises(SpecError, match=r"in.yaml \(imported\):\d+: .*sloth_team"):
        import_sloth(text, "in.yaml")


# ---- OpenSLO ------------------------------------------------------------------------------------


def test_openslo_v1_ratio_reference_and_threshold() -> None:
    slo_set = openslo("openslo-sark.yaml")
    assert slo_set.service == "sark"
    errors, fast, p95 = slo_set.objectives
    assert errors.name == "authz-errors" and errors.description.startswith("Fewer than 1 %")
    assert errors.sli == ErrorRatioSLI(
        errors=parse_selector('sark_authz_requests_total{decision="error"}'),
        total=parse_selector("sark_authz_requests_total"),
    )
    assert errors.objective == Bound(max=0.01)  # target 0.99 -> at most 1 % bad
    assert fast.name == "authz-within-5ms"  # Authz_Within_5ms, from the referenced SLI document
    assert fast.sli == LatencyRatioSLI(MetricSelector("sark_authz_duration_seconds"), 0.005)
    assert fast.objective == Bound(min=0.995)
    assert isinstance(p95.sli, PromQLSLI) and p95.sli.query.startswith("histogram_quantile(0.95")
    assert p95.objective == Bound(max=0.005)  # op lte: good values are at most 0.005


def test_openslo_v1_windowed_queries_raw_ratios_and_data_sources() -> None:
    invoices, payments, exports, webhooks = openslo("openslo-v1-queries.yaml").objectives
    assert invoices.sli == PromQLRatioSLI(  # the bad query's type comes from its DataSource document
        error_query='sum(rate(billing_invoices_total{state="failed"}[{{window}}])) or on() vector(0)',
        total_query="sum(rate(billing_invoices_total[{{window}}]))",
    )
    assert invoices.objective == Bound(max=0.001)
    # rawType success is the share of good events: its complement is the error ratio.
    assert payments.sli == PromQLRatioSLI(
        error_ratio_query="1 - (avg_over_time(billing_payment_success_ratio[{{window}}]))")
    assert payments.objective == Bound(max=0.02)
    assert exports.sli == PromQLRatioSLI(error_ratio_query="avg_over_time(billing_export_failure_ratio[{{window}}])")
    assert exports.objective == Bound(max=0.025)  # targetPercent 97.5
    # A good counter that is no histogram bucket: the ratio of the counters' rates.
    assert webhooks.sli == PromQLRatioSLI(good_query='sum(rate(billing_webhooks_total{delivered="true"}[{{window}}]))',
                                          total_query="sum(rate(billing_webhooks_total[{{window}}]))")
    assert webhooks.objective == Bound(min=0.99)


def test_openslo_v1alpha_as_sloth_reads_it() -> None:
    reads, latency, p99 = openslo("openslo-v1alpha.yaml").objectives
    assert [reads.name, latency.name, p99.name] == ["catalog-reads-0", "catalog-reads-1", "catalog-p99-0"]
    assert reads.sli == PromQLRatioSLI(good_query='sum(rate(catalog_reads_total{code!~"5.."}[{{window}}]))',
                                       total_query="sum(rate(catalog_reads_total[{{window}}]))")
    assert reads.objective == Bound(min=0.995) and reads.description.startswith("Catalog reads")
    assert latency.objective == Bound(min=0.9)
    # Sloth generates no alerts for OpenSLO ratio objectives; a threshold (which Sloth cannot read) keeps ours.
    assert reads.alerting.page.disable and reads.alerting.ticket.disable
    assert p99.sli == PromQLSLI("histogram_quantile(0.99, sum by (le) "
                                "(rate(catalog_read_duration_seconds_bucket[{{window}}])))")
    assert p99.objective == Bound(max=0.5) and not p99.alerting.page.disable


def _openslo_slo(indicator: str, extra: str = "", objectives: str = "[{target: 0.99}]") -> str:
    return ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: s}\nspec:\n  service: svc\n"
            f"  indicator: {{metadata: {{name: i}}, spec: {indicator}}}\n  objectives: {objectives}\n{extra}")


def _source(query: str, kind: str = "Prometheus") -> str:
    return f"{{metricSource: {{type: {kind}, spec: {{query: '{query}'}}}}}}"


def test_a_ratio_query_that_cannot_be_windowed_is_refused() -> None:
    # Before: sum(increase((sum(rate(x[5m])))[{{window}}])), which promtool rejects (ranges only on selectors).
    bad, total = _source('sum(rate(x_total{code="5xx"}[5m]))'), _source("sum(rate(x_total[5m]))")
    text = _openslo_slo(f"{{ratioMetric: {{bad: {bad}, total: {total}}}}}")
    with pytest.raises(UsageError, match=r"ratioMetric.bad: .* cannot be windowed: give a counter selector, or say "
                                         r"where the window goes with \{\{window\}\}"):
        import_openslo(text, "in.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: openslo/v2\nkind: SLO\n", "apiVersion 'openslo/v2' is neither openslo/v1 nor openslo/v1alpha"),
        ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec: {service: s, indicatorRef: nope,"
         " objectives: [{target: 0.9}]}\n", "no SLI document is named 'nope'"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x', 'Datadog')}, total: {_source('y')}}}}}"),
         "metricSource type 'Datadog' is not Prometheus"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                      "  budgetingMethod: Timeslices\n"), "budgetingMethod 'Timeslices' cannot be imported"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                      "  timeWindow: [{duration: 7d, isRolling: true}]\n"),
         r"spec.timeWindow\[0\]: only a rolling 30d window can be imported .* got 7d"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                      "  timeWindow: [{duration: 30d, calendar: {startTime: '2024-01-01 00:00:00'}}]\n"),
         "got 30d, calendar"),
        (_openslo_slo(f"{{ratioMetric: {{raw: {_source('r')}, rawType: failure}}}}"),
         "ratioMetric.raw: 'r' cannot be windowed"),
        (_openslo_slo(f"{{ratioMetric: {{raw: {_source('r[{{window}}]')}}}}}"), "rawType must be success or failure"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                      objectives="[{target: 1.5}]"), "target over 0 and at most 1, got 1.5"),
        (_openslo_slo(f"{{thresholdMetric: {_source('q')}}}", objectives="[{op: eq, value: 1}]"),
         "op 'eq' must be one of lt, lte, gt, gte"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                      objectives="[{target: 0.9, indicatorRef: other}]"), "a composite SLO"),
        (_openslo_slo("{ratioMetric: {}}"), "needs good or bad beside total"),
        (_openslo_slo("{}"), "only ratioMetric and thresholdMetric"),
        (_openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}") + "---\n"
         + _openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}").replace("svc", "other"),
         r"SLOs of several services \(svc, other\)"),
        ("apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: s\n  timeWindows: "
         "[{count: 28, unit: Day}]\n  objectives: [{target: 0.9}]\n", "got 28 Day"),
        ("apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: s\n  objectives: [{target: "
         "0.9, ratioMetrics: {good: {source: datadog, queryType: query, query: q}, total: {}}}]\n",
         "source 'datadog' is not Prometheus"),
        ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: s}\n", "no SLO document"),
        ("- a\n", "expected a YAML mapping, got list"),
        ("a: [\n", "invalid YAML"),
    ],
)
def test_unimportable_openslo_input_is_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        import_openslo(text, "in.yaml")
    assert "\n" not in str(caught.value)


def test_openslo_alert_policies_are_a_warning() -> None:
    text = _openslo_slo(f"{{ratioMetric: {{bad: {_source('x')}, total: {_source('y')}}}}}",
                        "  alertPolicies: [fast-burn]\n") + "---\napiVersion: openslo/v1\nkind: AlertPolicy\n"
    assert import_openslo(text, "in.yaml").warnings == (
        "in.yaml: document 1: spec.alertPolicies are not imported (sloguard generates its own alerts)",
        "in.yaml: document 2: kind 'AlertPolicy' is not imported (sloguard generates its own alerts)",
    )


# ---- the command line ---------------------------------------------------------------------------


def test_cli_writes_a_spec_that_validates(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "sloth", str(DATA / "sloth-sark.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(load_spec(out).objectives) == 3
    result = runner.invoke(cli, ["import", "openslo", str(DATA / "openslo-sark.yaml")])
    assert result.exit_code == 0 and result.output.startswith("# Imported from OpenSLO")
    result = runner.invoke(cli, ["import", "sloth", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "cannot read" in result.output and "Traceback" not in result.output


def test_cli_writes_several_services_to_stdout_or_a_directory_never_one_file(tmp_path: Path) -> None:
    source = str(DATA / "sloth-multi.yaml")
    streamed = run_sloguard("import", "sloth", source)
    assert streamed.returncode == 0, streamed.describe()
    assert [doc["spec"]["service"] for doc in yaml.safe_load_all(streamed.stdout)] == ["checkout", "ledger"]
    written = run_sloguard("import", "sloth", source, "-o", f"{tmp_path}/specs/")
    assert written.returncode == 0, written.describe()
    assert sorted(p.name for p in (tmp_path / "specs").iterdir()) == ["checkout.yaml", "ledger.yaml"]
    assert load_spec(tmp_path / "specs" / "ledger.yaml").service == "ledger"
    again = run_sloguard("import", "sloth", source, "-o", str(tmp_path / "specs"))  # an existing directory
    assert again.returncode == 0 and again.stderr_lines() == [f"wrote {tmp_path}/specs/checkout.yaml",
                                                               f"wrote {tmp_path}/specs/ledger.yaml"]
    refused = run_sloguard("import", "sloth", source, "-o", str(tmp_path / "one.yaml"))
    assert refused.returncode == 2 and not (tmp_path / "one.yaml").exists()
    assert refused.stderr_lines() == [
        f"sloguard: error: {source}: 2 services (checkout, ledger) make 2 specs; -o {tmp_path / 'one.yaml'} is one "
        "file: give a directory (-o DIR/) or leave -o out for one stream"
    ]


@pytest.mark.parametrize(
    ("kind", "text", "line"),
    [
        ("sloth", "version: prometheus/v1\nservice: a\nslos: [{name: x, objective: 99}]\n---\n- b\n",
         "document 2: expected a YAML mapping, got list"),
        ("sloth", "version: prometheus/v1\nservice: a\nslos: [{name: x, objective: 99, sli: {events: {}}}]\n",
         "slos[0] (x).sli.events.error_query: is required"),
        ("openslo", "apiVersion: openslo/v1\nkind: SLO\nspec: 3\n", "spec: expected a mapping, got int"),
        ("sloth", "\xff", "not UTF-8 text"),
    ],
)
def test_cli_bad_input_is_one_line_with_exit_2(tmp_path: Path, kind: str, text: str, line: str) -> None:
    source = tmp_path / "in.yaml"
    source.write_bytes(text.encode("latin-1"))
    result = run_sloguard("import", kind, str(source))
    assert result.returncode == 2, result.describe()
    assert result.stderr_lines() == [f"sloguard: error: {source}: {line}"] or (
        len(result.stderr_lines()) == 1 and line in result.stderr
    ), result.describe()
    assert "Traceback" not in result.stderr


def test_imported_specs_generate_rules(tmp_path: Path) -> None:
    for kind, name in (("openslo", "openslo-sark.yaml"), ("sloth", "sloth-sark.yaml"), ("sloth", "sloth-multi.yaml"),
                       ("sloth", "sloth-crd.yaml"), ("openslo", "openslo-v1alpha.yaml"),
                       ("openslo", "openslo-v1-queries.yaml")):
        out = tmp_path / name.removesuffix(".yaml")
        result = CliRunner().invoke(cli, ["import", kind, str(DATA / name), "-o", f"{out}/"])
        assert result.exit_code == 0, result.output
        for spec in sorted(out.iterdir()):
            result = CliRunner().invoke(cli, ["rules", "generate", "-f", str(spec), "-o", str(tmp_path / "rules")])
            assert result.exit_code == 0, result.output


def test_sloth_unquoted_label_values_are_the_strings_they_spell() -> None:
    # Sloth's YAML reader makes any scalar a string where a string belongs (its victoria-metrics
    # example writes `generated: true`), so the import must not refuse them.
    text = """version: prometheus/v1
service: shop
labels: {generated: true, tier: 2, ratio: 0.5}
slos:
  - name: errors
    objective: 99
    labels: {paged: false}
    sli:
      raw: {error_ratio_query: 'sum(rate(e[{{.window}}])) / sum(rate(t[{{.window}}]))'}
    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}
"""
    (spec,) = import_sloth(text, "s.yml")
    slo_set = load_spec_text(spec.text, "s.yml")
    assert slo_set.labels == {"generated": "true", "tier": "2", "ratio": "0.5"}
    assert slo_set.objectives[0].labels == {"paged": "false"}
