"""`sloguard validate` parses every PromQL of a spec offline: the user's queries and selectors, and sloguard's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sloguard import validate
from sloguard.cli import cli
from sloguard.spec.loader import load_spec_text, load_spec_with_lines

ROOT = Path(__file__).resolve().parents[2]
VALID_SPECS = [ROOT / "sloguard.yaml", *sorted((ROOT / "tests" / "data" / "rules").glob("in-*.yaml"))]

# The first objective's sli is on line 9 (its kind's fields on 9 as well in flow style).
HEAD = """\
apiVersion: sloguard/v1
kind: SLOSet
metadata: {name: t}
spec:
  service: s
  selector: {job: sark}
  objectives:
    - name: a
"""


def spec_file(tmp_path: Path, *objective_lines: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(HEAD + "".join(f"      {line}\n" for line in objective_lines))
    return path


def validated(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["validate", str(path)])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("path", VALID_SPECS, ids=lambda p: p.name)
def test_specs_in_the_repository_are_valid_and_every_query_built_from_them_parses(path: Path) -> None:
    code, out, err = validated(path)
    assert (code, err) == (0, ""), err
    assert out.startswith(f"{path}: valid (")
    slo_set, lines = load_spec_with_lines(path)
    assert validate.query_problems(slo_set, lines) == []
    built = [query for objective in slo_set.objectives for query in validate.generated_queries(slo_set, objective)]
    assert len(built) >= 2 * len(slo_set.objectives)  # a value and a rule value at least


@pytest.mark.parametrize(("lines", "message"), [
    (["sli: {promql: {query: 'sum(rate(x[{{window}}])'}}", "objective: {max: 1}"],
     "9: objectives[0].sli.promql.query: invalid PromQL: unclosed left parenthesis"),
    (["sli: {promql: {query: 'nosuch(x)'}}", "objective: {max: 1}"],
     "9: objectives[0].sli.promql.query: invalid PromQL: unknown function with name 'nosuch'"),
    (["sli: {promql: {query: 'rate(x)'}}", "objective: {max: 1}"],
     "9: objectives[0].sli.promql.query: invalid PromQL: expected type matrix in call to function 'rate', got "
     "vector"),
    (["sli: {promql: {query: 'x[{{window}}]'}}", "objective: {max: 1}"],
     "9: objectives[0].sli.promql.query: gives a range vector; an SLI query must give an instant vector or a "
     "number (e.g. wrap it in rate())"),
    (["sli:", "  promqlRatio:", "    errorQuery: 'sum(rate(e[{{window}}]))'",
      "    totalQuery: 'sum(rate(t[{{window}}])) by'", "objective: {max: 0.1}"],
     "12: objectives[0].sli.promqlRatio.totalQuery: invalid PromQL: invalid promql query"),
    (["sli: {promqlRatio: {errorRatioQuery: '(\"ratio {{window}}\")'}}", "objective: {max: 0.1}"],
     "9: objectives[0].sli.promqlRatio.errorRatioQuery: gives a string; an SLI query must give an instant vector "
     "or a number (e.g. wrap it in rate())"),
    (["sli:", "  errorRatio:", "    errors: 'r_total{code=~\"5(\"}'", "    total: r_total", "objective: {max: 0.1}"],
     "11: objectives[0].sli.errorRatio.errors: invalid PromQL: illegal regex for 5("),
    (["sli: {latency: {metric: 'h{implementation=~\"[rust\"}', quantile: 0.9}}", "objective: {max: 1}"],
     "9: objectives[0].sli.latency.metric: invalid PromQL: illegal regex for [rust"),
    (["sli: {throughput: {metric: 'r_total{path!~\"*\"}'}}", "objective: {min: 1}"],
     "9: objectives[0].sli.throughput.metric: invalid PromQL: illegal regex for *"),
])
def test_bad_promql_is_an_error_with_file_and_line_and_exit_2(tmp_path: Path, lines: list[str],
                                                              message: str) -> None:
    path = spec_file(tmp_path, *lines)
    load_spec_text(path.read_text())  # the loader lets it through: a backend may read more than the parser
    code, out, err = validated(path)
    assert (code, out) == (2, "")
    assert err == f"sloguard: error: {path}:{message}\n"


def test_a_trailing_promql_comment_is_fine_in_the_queries_sloguard_builds(tmp_path: Path) -> None:
    """`(error # the errors) / (total)` would swallow the division; sloguard closes the parenthesis on a new line."""
    path = spec_file(tmp_path, "sli:", "  promqlRatio:", "    errorQuery: 'sum(rate(e[{{window}}])) # the errors'",
                     "    totalQuery: 'sum(rate(t[{{window}}]))'", "objective: {max: 0.1}")
    code, _, err = validated(path)
    assert (code, err) == (0, "")


def test_several_problems_report_the_first_in_the_file_and_count_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(HEAD + "      sli: {promql: {query: 'rate(x)'}}\n      objective: {max: 1}\n"
                    "    - {name: b, sli: {promql: {query: 'up +'}}, objective: {max: 1}}\n"
                    "    - {name: c, sli: {throughput: {metric: 'r{a=~\"(\"}'}}, objective: {min: 1}}\n")
    code, _, err = validated(path)
    assert code == 2
    assert err.startswith(f"sloguard: error: {path}:9: objectives[0].sli.promql.query: ")
    assert err.endswith(" (and 2 more problems)\n")


def test_the_window_placeholder_is_filled_before_parsing() -> None:
    assert validate.parse_problem("sum(rate(x[{{window}}]))") is not None  # unfilled, it is no PromQL
    assert validate.parse_problem("sum(rate(x[{{window}}]))".replace("{{window}}", validate.PARSE_WINDOW)) is None
