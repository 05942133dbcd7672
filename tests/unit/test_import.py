"""`sloguard import openslo|sloth`: the example specs in tests/data/import become valid sloguard specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sloguard import importers
from sloguard.cli import cli
from sloguard.errors import UsageError
from sloguard.spec.loader import load_spec, load_spec_text
from sloguard.spec.model import Bound, ErrorRatioSLI, LatencyRatioSLI, Matcher, PromQLSLI

DATA = Path(__file__).resolve().parents[1] / "data" / "import"


def imported(kind: str, name: str):
    text = (DATA / name).read_text()
    spec = importers.import_openslo(text, name) if kind == "openslo" else importers.import_sloth(text, name)
    return load_spec_text(spec, name)


def test_openslo_ratio_reference_and_threshold() -> None:
    slo_set = imported("openslo", "openslo-sark.yaml")
    assert slo_set.service == "sark"
    errors, fast, p95 = slo_set.objectives
    assert errors.name == "authz-errors" and errors.description.startswith("Fewer than 1 %")
    assert errors.sli == ErrorRatioSLI(
        errors=importers.parse_selector('sark_authz_requests_total{decision="error"}'),
        total=importers.parse_selector("sark_authz_requests_total"),
    )
    assert errors.objective == Bound(max=0.01)  # target 0.99 -> at most 1 % bad
    assert fast.name == "authz-within-5ms"  # Authz_Within_5ms, from the referenced SLI document
    assert fast.sli == LatencyRatioSLI("sark_authz_duration_seconds", 0.005)
    assert fast.objective == Bound(min=0.995)
    assert isinstance(p95.sli, PromQLSLI) and p95.sli.query.startswith("histogram_quantile(0.95")
    assert p95.objective == Bound(max=0.005)  # op lte: good values are at most 0.005


def test_sloth_events_grouped_events_and_raw() -> None:
    slo_set = imported("sloth", "sloth-sark.yaml")
    assert slo_set.labels == {"owner": "platform"}
    errors, by_path, cache = slo_set.objectives
    assert isinstance(errors.sli, ErrorRatioSLI)
    assert errors.sli.errors.matchers == (Matcher("job", "=", "sark"), Matcher("decision", "=", "error"))
    assert errors.objective == Bound(max=0.001)  # 99.9 % -> 0.1 % budget
    assert by_path.by == ("implementation",) and isinstance(by_path.sli, ErrorRatioSLI)
    assert by_path.objective == Bound(max=0.01)
    assert isinstance(cache.sli, PromQLSLI)
    assert cache.sli.query == (
        'sum(rate(cache_operations_total{result="error"}[{{window}}])) / sum(rate(cache_operations_total[{{window}}]))'
    )
    assert cache.objective == Bound(max=0.005)


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("sloth", "version: prometheus/v2\nservice: a\nslos: []\n", "is not prometheus/v1"),
        ("sloth", "version: prometheus/v1\nservice: a\nslos: []\n", "no SLO found"),
        ("sloth", "version: prometheus/v1\nservice: a\nslos: [{name: x, objective: 120, sli: {raw: {}}}]\n",
         "percentage"),
        ("sloth", "version: prometheus/v1\nservice: a\nslos: [{name: x, objective: 99, sli: {plugin: {id: p}}}]\n",
         "plugins"),
        ("openslo", "apiVersion: openslo/v1alpha\nkind: SLO\n", "is not openslo/v1"),
        ("openslo", "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec: {service: s, indicatorRef: nope,"
         " objectives: [{target: 0.9}]}\n", "no SLI named 'nope'"),
        ("openslo", "- a\n", "YAML mappings"),
        ("openslo", "a: [\n", "invalid YAML"),
    ],
)
def test_unimportable_input_is_a_usage_error(kind: str, text: str, message: str) -> None:
    convert = importers.import_openslo if kind == "openslo" else importers.import_sloth
    with pytest.raises(UsageError, match=message):
        convert(text, "in.yaml")


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


def test_imported_specs_generate_rules(tmp_path: Path) -> None:
    for kind, name in (("openslo", "openslo-sark.yaml"), ("sloth", "sloth-sark.yaml")):
        out = tmp_path / f"{kind}.yaml"
        assert CliRunner().invoke(cli, ["import", kind, str(DATA / name), "-o", str(out)]).exit_code == 0
        result = CliRunner().invoke(cli, ["rules", "generate", "-f", str(out), "-o", str(tmp_path / kind)])
        assert result.exit_code == 0, result.output
