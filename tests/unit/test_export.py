"""`sloguard export sloth|openslo`: the way out mirrors the way in, and what has no place is said in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloguard import rules
from sloguard.errors import UsageError
from sloguard.exporters import export_openslo, export_sloth
from sloguard.importers import import_openslo, import_sloth
from sloguard.importers.formats import SLOTH_K8S_API_VERSION, SLOTH_VERSION, SLOTH_WINDOW_PATTERN
from sloguard.spec.loader import load_spec_text
from sloguard.spec.model import SLOSet
from tests.support.clirun import run_sloguard

REPO = Path(__file__).resolve().parents[2]
IMPORT_DATA = REPO / "tests" / "data" / "import"
GOLDEN_DATA = REPO / "tests" / "data" / "sloth"  # the golden tests' Sloth fixtures, when there


def spec(objectives: str, spec_extra: str = "", metadata: str = "") -> SLOSet:
    return load_spec_text(
        f"apiVersion: sloguard/v1\nkind: SLOSet\nmetadata: {{name: shop{metadata}}}\nspec:\n  service: shop\n"
        f"{spec_extra}  objectives:\n{objectives}", "shop.yaml"
    )


def sloth_doc(slo_set: SLOSet, **options: Any) -> dict[str, Any]:
    return yaml.safe_load(export_sloth([slo_set], **options).text)


ERRORS = ("    - name: orders\n      sli: {errorRatio: {errors: 'orders_total{code=~\"5..\"}', total: orders_total}}\n"
          "      objective: {max: 0.001}\n")


# ---- Sloth --------------------------------------------------------------------------------------


def test_error_ratio_exports_as_plain_events_with_the_selector_merged_and_grouping() -> None:
    slo_set = spec(ERRORS.replace("objective:", "by: [region]\n      objective:"), "  selector: {job: shop}\n")
    doc = sloth_doc(slo_set)
    assert doc["version"] == SLOTH_VERSION and doc["service"] == "shop"
    (slo,) = doc["slos"]
    assert slo["objective"] == 99.9
    assert slo["sli"] == {"events": {
        "error_query": 'sum by (region) (rate(orders_total{job="shop",code=~"5.."}[{{.window}}]))',
        "total_query": 'sum by (region) (rate(orders_total{job="shop"}[{{.window}}]))',
    }}  # fmt: skip
    assert slo["alerting"] == {"name": "OrdersBudgetBurn"}  # sloguard's default name: Sloth requires one


def test_latency_ratio_exports_its_slow_events_as_count_less_bucket() -> None:
    slo_set = spec("    - name: fast\n      sli: {latencyRatio: {metric: lat_seconds, threshold: 0.25}}\n"
                   "      objective: {min: 0.99}\n")
    (slo,) = sloth_doc(slo_set)["slos"]
    assert slo["objective"] == 99
    assert slo["sli"]["events"] == {
        "error_query": '(sum(rate(lat_seconds_count[{{.window}}])) - sum(rate(lat_seconds_bucket{le="0.25"}'
                       "[{{.window}}])))",
        "total_query": "sum(rate(lat_seconds_count[{{.window}}]))",
    }


def test_promql_ratio_exports_verbatim_with_sloths_window() -> None:
    slo_set = spec(
        "    - {name: a, sli: {promqlRatio: {errorQuery: 'sum(rate(e[{{window}}])) or on() vector(0)', "
        "totalQuery: 'sum(rate(t[{{window}}]))'}}, objective: {max: 0.01}}\n"
        "    - {name: b, sli: {promqlRatio: {errorRatioQuery: 'avg_over_time(r[{{window}}])'}},\n"
        "       objective: {max: 0.05}}\n"
        "    - {name: c, sli: {promqlRatio: {goodQuery: 'sum(rate(g[{{window}}]))',\n"
        "       totalQuery: 'sum(rate(t[{{window}}]))'}}, objective: {min: 0.95}}\n"
    )
    a, b, c = sloth_doc(slo_set)["slos"]
    assert a["sli"] == {"events": {"error_query": "sum(rate(e[{{.window}}])) or on() vector(0)",
                                   "total_query": "sum(rate(t[{{.window}}]))"}}
    assert b["sli"] == {"raw": {"error_ratio_query": "avg_over_time(r[{{.window}}])"}} and b["objective"] == 95
    # Sloth has no good events: the error ratio is 1 - good/total, as Sloth's own OpenSLO loader writes it.
    assert c["sli"] == {"raw": {"error_ratio_query": "1 - ((sum(rate(g[{{.window}}]))) / (sum(rate(t[{{.window}}]))))"}}
    assert c["objective"] == 95


def test_labels_description_and_the_kubernetes_crd() -> None:
    slo_set = spec(ERRORS.replace("      objective:", "      description: Orders fail.\n      labels: {tier: '1'}\n"
                                  "      objective:"), metadata=", labels: {team: web}")
    doc = sloth_doc(slo_set, kubernetes=True)
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]) == (SLOTH_K8S_API_VERSION, "PrometheusServiceLevel",
                                                                  {"name": "shop"})
    assert doc["spec"]["labels"] == {"team": "web"}
    (slo,) = doc["spec"]["slos"]
    assert (slo["description"], slo["labels"]) == ("Orders fail.", {"tier": "1"})
    assert set(slo["sli"]["events"]) == {"errorQuery", "totalQuery"}


ALERTING = """\
  alerting:
    runbookUrl: https://runbooks.example.org/shop
    labels: {team: web, tier: spec}
    annotations: {summary: spec-wide}
    pageAlert: {labels: {severity: critical, tier: spec-page, route: spec-page}, annotations: {summary: spec-page}}
    ticketAlert: {labels: {severity: warning}, disable: true}
"""
OWN_ALERTING = """\
      alerting:
        name: OrdersFailing
        labels: {tier: own, route: own}
        annotations: {description: own}
        pageAlert: {labels: {route: own-page}}
"""


@pytest.mark.parametrize("severity", ["page", "ticket"])
def test_spec_wide_alerting_merges_into_each_slo_and_sloth_reads_what_sloguard_would(severity: str) -> None:
    slo_set = spec(ERRORS + OWN_ALERTING, ALERTING)
    (slo,) = sloth_doc(slo_set)["slos"]
    alerting = slo["alerting"]
    own = alerting.get(f"{severity}_alert", {})
    # What Sloth's loader makes of it: alerting merged with page_alert / ticket_alert.
    sloth_labels = {**alerting.get("labels", {}), **own.get("labels", {})}
    sloth_annotations = {**alerting.get("annotations", {}), **own.get("annotations", {})}
    objective = slo_set.objectives[0]
    ours = rules.alert_metadata(slo_set, objective, severity)
    assert alerting["name"] == "OrdersFailing"
    assert sloth_labels == ours.labels
    assert sloth_annotations == {**rules.link_annotations(slo_set, objective), **ours.annotations}
    assert own.get("disable", False) == ours.disable
    assert sloth_annotations["runbook_url"] == "https://runbooks.example.org/shop#orders"


def test_kinds_sloth_cannot_express_are_an_error_or_skipped_with_a_warning() -> None:
    slo_set = spec(ERRORS + "    - name: p95\n      sli: {latency: {metric: lat_seconds, quantile: 0.95}}\n"
                   "      objective: {max: 0.1}\n"
                   "    - name: odd\n      sli: {errorRatio: {errors: e_total, total: t_total}}\n"
                   "      objective: {min: 0.1, max: 0.2}\n")
    with pytest.raises(UsageError, match=r"^shop.yaml: objective p95: a latency SLI \(a quantile\) has no Sloth "
                                         r"equivalent: Sloth SLIs are ratios of events \(--skip-unsupported"):
        export_sloth([slo_set])
    exported = export_sloth([slo_set], skip_unsupported=True)
    assert [slo["name"] for slo in yaml.safe_load(exported.text)["slos"]] == ["orders"]
    assert exported.warnings == (
        "shop.yaml: objective p95: skipped: a latency SLI (a quantile) has no Sloth equivalent: Sloth SLIs are "
        "ratios of events",
        "shop.yaml: objective odd: skipped: its bound {min 0.1, max 0.2} is not a single target on a ratio, which "
        "Sloth needs",
    )
    nothing = spec("    - name: p95\n      sli: {latency: {metric: lat_seconds, quantile: 0.95}}\n"
                   "      objective: {max: 0.1}\n")
    with pytest.raises(UsageError, match="no objective Sloth can express"):
        export_sloth([nothing], skip_unsupported=True)


def test_settings_without_a_sloth_place_are_one_warning_each() -> None:
    slo_set = spec(ERRORS + "      warning: {max: 0.0005}\n      key: true\n      decideOn: estimate\n",
                   "  selector: {job: shop}\n  minEvents: 10\n  decideOn: confidence\n  alerting:\n"
                   "    minRequestRate: 1\n    extraAlerts: [targetDown]\n    windows: google\n")
    assert export_sloth([slo_set]).warnings == (
        "shop.yaml: minEvents, decideOn: sloguard check settings with no Sloth equivalent; dropped",
        "shop.yaml: alerting.minRequestRate: Sloth has no low-traffic guard (its alerts fire at any traffic); dropped",
        "shop.yaml: alerting.extraAlerts (targetDown): no Sloth equivalent; dropped",
        "shop.yaml: alerting.windows 'google': a Sloth spec does not name its burn-rate windows (Sloth takes them on "
        "its command line); dropped",
        "shop.yaml: objective orders: warning bound, key, decideOn: sloguard check settings with no Sloth "
        "equivalent; dropped",
    )


def test_several_specs_make_one_stream() -> None:
    other = dataclasses.replace(spec(ERRORS), service="cart", name="cart")
    docs = list(yaml.safe_load_all(export_sloth([spec(ERRORS), other]).text))
    assert [doc["service"] for doc in docs] == ["shop", "cart"]


# ---- OpenSLO ------------------------------------------------------------------------------------


def test_openslo_export_writes_a_service_and_an_slo_per_objective() -> None:
    slo_set = spec(ERRORS + "    - name: fast\n      sli: {latencyRatio: {metric: lat_seconds, threshold: 0.25}}\n"
                   "      objective: {min: 0.99}\n"
                   "    - name: p95\n      sli: {latency: {metric: lat_seconds, quantile: 0.95}}\n"
                   "      objective: {max: 0.1}\n", "  selector: {job: shop}\n")
    exported = export_openslo([slo_set])
    service, errors, fast, p95 = yaml.safe_load_all(exported.text)
    assert (service["kind"], service["metadata"]["name"]) == ("Service", "shop")
    assert errors["metadata"]["name"] == "orders"
    assert errors["spec"]["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert errors["spec"]["budgetingMethod"] == "Occurrences"
    ratio = errors["spec"]["indicator"]["spec"]["ratioMetric"]
    assert ratio["bad"]["metricSource"] == {"type": "Prometheus",
                                            "spec": {"query": 'orders_total{job="shop",code=~"5.."}'}}
    assert errors["spec"]["objectives"] == [{"target": 0.999}]
    assert fast["spec"]["indicator"]["spec"]["ratioMetric"]["good"]["metricSource"]["spec"]["query"] == \
        'lat_seconds_bucket{job="shop",le="0.25"}'
    threshold = p95["spec"]["indicator"]["spec"]["thresholdMetric"]["metricSource"]["spec"]["query"]
    assert threshold == 'histogram_quantile(0.95, sum by (le) (rate(lat_seconds_bucket{job="shop"}[{{window}}])))'
    assert p95["spec"]["objectives"] == [{"op": "lte", "value": 0.1, "target": 0.99}]
    assert exported.warnings == ("shop.yaml: objective p95: a threshold has no share of good events in sloguard; "
                                 "written with OpenSLO's required target 0.99",)


# ---- round trips --------------------------------------------------------------------------------


def _canonical_sloth(doc: dict[str, Any]) -> dict[str, Any]:
    """A Sloth document as its fields mean: queries with spacing folded and one spelling of {{.window}}."""

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items() if v not in ({}, None, [])}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str) and key.lower().replace("_", "").endswith("query"):
            return SLOTH_WINDOW_PATTERN.sub("{{.window}}", " ".join(value.split()))
        return value

    out = walk(doc)
    out.get("metadata", {}).pop("namespace", None)  # the one field a sloguard spec has no place for (warned)
    return out


def _merged_by_service(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The documents of each service as one document: the SLOs of all of them, in file order."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        body = doc.get("spec", doc)
        first = out.setdefault(body["service"], doc)
        if first is not doc:
            first.get("spec", first)["slos"] += body["slos"]
    return out


def _fixtures(import_glob: str, belongs: Any) -> list[Path]:
    """Our import fixtures, and the golden tests' fixtures of the same format."""
    golden = sorted(p for p in GOLDEN_DATA.glob("*.y*ml") if p.is_file()) if GOLDEN_DATA.is_dir() else []
    return sorted(IMPORT_DATA.glob(import_glob)) + [p for p in golden if _all_documents(p, belongs)]


def _all_documents(path: Path, belongs: Any) -> bool:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError:
        return False
    return bool(docs) and all(isinstance(d, dict) and belongs(d) for d in docs)


def _is_sloth(doc: dict[str, Any]) -> bool:
    return doc.get("version") == SLOTH_VERSION or doc.get("apiVersion") == SLOTH_K8S_API_VERSION


def _is_openslo(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("openslo/")


def _comparable(slo_set: SLOSet) -> SLOSet:
    """The model without where it was read from; an objective without an alert name has sloguard's default."""
    objectives = tuple(
        dataclasses.replace(o, alerting=dataclasses.replace(o.alerting, name=rules.alert_name(o, "BudgetBurn")))
        for o in slo_set.objectives
    )
    return dataclasses.replace(slo_set, source="", objectives=objectives)


@pytest.mark.parametrize("fixture", _fixtures("sloth-*.yaml", _is_sloth), ids=lambda p: p.name)
def test_sloth_import_export_import_is_stable(fixture: Path) -> None:
    kubernetes = "apiVersion" in next(yaml.safe_load_all(fixture.read_text()))
    for imported in import_sloth(fixture.read_text(), fixture.name):
        first = load_spec_text(imported.text)
        exported = export_sloth([first], kubernetes=kubernetes)
        (again,) = import_sloth(exported.text, "exported.yaml")
        assert _comparable(load_spec_text(again.text)) == _comparable(first)


@pytest.mark.parametrize("fixture", _fixtures("sloth-*.yaml", _is_sloth), ids=lambda p: p.name)
def test_sloth_export_of_import_is_the_identity_on_sloths_fields(fixture: Path) -> None:
    originals = [d for d in yaml.safe_load_all(fixture.read_text()) if d is not None]
    kubernetes = "apiVersion" in originals[0]
    expected = _merged_by_service(originals)
    for imported in import_sloth(fixture.read_text(), fixture.name):
        exported = sloth_doc(load_spec_text(imported.text), kubernetes=kubernetes)
        assert _canonical_sloth(exported) == _canonical_sloth(expected[imported.service])


def _without_alerting(slo_set: SLOSet) -> SLOSet:
    """OpenSLO export writes no alert policies (warned): the round trip holds on everything else."""
    objectives = tuple(dataclasses.replace(o, alerting=type(o.alerting)()) for o in slo_set.objectives)
    return dataclasses.replace(slo_set, source="", objectives=objectives)


@pytest.mark.parametrize("fixture", _fixtures("openslo-*.yaml", _is_openslo), ids=lambda p: p.name)
def test_openslo_import_export_import_is_stable(fixture: Path) -> None:
    first = load_spec_text(import_openslo(fixture.read_text(), fixture.name).text)
    exported = export_openslo([first])
    again = load_spec_text(import_openslo(exported.text, "exported.yaml").text)
    assert _without_alerting(again) == _without_alerting(first)


# ---- the command line ---------------------------------------------------------------------------


def test_cli_exports_to_stdout_or_a_file_with_warnings_on_stderr(tmp_path: Path) -> None:
    sark = str(REPO / "sloguard.yaml")
    refused = run_sloguard("export", "sloth", sark)
    assert refused.returncode == 2 and len(refused.stderr_lines()) == 1, refused.describe()
    assert refused.stderr_lines()[0].startswith(f"sloguard: error: {sark}: objective ")
    out = tmp_path / "sloth.yaml"
    result = run_sloguard("export", "sloth", sark, "--skip-unsupported", "-o", str(out))
    assert result.returncode == 0, result.describe()
    assert all(line.startswith("sloguard: warning: ") for line in result.stderr_lines()[:-1])
    assert result.stderr_lines()[-1] == f"wrote {out}"
    assert [spec.service for spec in import_sloth(out.read_text(), str(out))] == ["sark"]
    streamed = run_sloguard("export", "openslo", sark)
    assert streamed.returncode == 0, streamed.describe()
    assert import_openslo(streamed.stdout, "stdout").service == "sark"


def test_cli_export_of_a_bad_spec_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloguard/v1\nkind: SLOSet\n")
    result = run_sloguard("export", "openslo", str(bad))
    assert result.returncode == 2 and len(result.stderr_lines()) == 1, result.describe()
    assert result.stderr_lines()[0].startswith(f"sloguard: error: {bad}:")
    missing = run_sloguard("export", "sloth")
    assert missing.returncode == 2 and "Missing argument" in missing.stderr
