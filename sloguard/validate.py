"""`sloguard validate`'s offline PromQL check: every query a spec holds, and every one sloguard builds from it, parsed.

The loader checks a spec's shape; this parses its PromQL with promql-parser (Prometheus's grammar,
function names and argument types, regular expressions) with {{window}} filled in, so a typo in a
query is an error with its file and line before any backend sees it. Only `validate` runs it: a
backend may read more than the parser does (VictoriaMetrics' MetricsQL, functions newer than the
parser), so `check` and `rules` leave the last word to the backend and promtool.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple, dataclass

import promql_parser

from sloguard import promql
from sloguard.errors import SpecError
from sloguard.spec import v1
from sloguard.spec.fields import show
from sloguard.spec.loader import SpecLines
from sloguard.spec.model import WINDOW_PLACEHOLDER, MetricSelector, Objective, SLOSet

# What {{window}} becomes while parsing: any duration parses alike; this one is also the rules' shortest window.
PARSE_WINDOW = "5m"
PARSE_WINDOW_SECONDS = 300.0
# Expressions whose value is not an instant vector or a number: what no SLI query may give.
_NOT_INSTANT = {
    promql_parser.MatrixSelector: "a range vector",
    promql_parser.SubqueryExpr: "a range vector",
    promql_parser.StringLiteral: "a string",
}


@dataclass(frozen=True, order=True)
class Problem:
    """One query that does not parse: its line (for file order) and the whole message."""

    line: int
    message: str


def check_queries(slo_set: SLOSet, lines: SpecLines) -> None:
    """SpecError with the first problem in the file (and how many more), as the loader reports its own."""
    problems = query_problems(slo_set, lines)
    if problems:
        first, more = problems[0].message, len(problems) - 1
        raise SpecError(first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""))


def query_problems(slo_set: SLOSet, lines: SpecLines) -> list[Problem]:
    """Every query of the spec that does not parse, in file order."""
    problems: list[Problem] = []
    for index, objective in enumerate(slo_set.objectives):
        sli_at = ("spec", "objectives", index, "sli")
        own = list(_field_problems(objective, sli_at, lines))
        if own:  # the queries built from a field that does not parse would only repeat it
            problems += own
            continue
        kind_at = (*sli_at, v1.sli_fields(objective.sli)[0][0][0])
        for query in generated_queries(slo_set, objective):
            why = parse_problem(query)
            if why is not None:  # sloguard's own query: a bug here, or user queries that combine badly
                problems.append(Problem(lines.line(kind_at), f"{lines.where(kind_at)}: the query sloguard builds, "
                                                             f"{show(query)}, does not parse: {why}"))
                break  # its other queries are built alike: one problem says it
    return sorted(problems)


def generated_queries(slo_set: SLOSet, objective: Objective) -> list[str]:
    """What `check` sends for the objective and what its rules and panels record, without repeats."""
    check = promql.objective_queries(slo_set, objective, PARSE_WINDOW_SECONDS)
    rule = promql.sli_queries(slo_set, objective, promql.per_second_over(PARSE_WINDOW))
    # Every field of both: each is a query (or a selector) or None, and a field added later is parsed too.
    found = [*astuple(check), *astuple(rule)]
    return list(dict.fromkeys(query for query in found if isinstance(query, str)))


def parse_problem(query: str, *, instant: bool = False) -> str | None:
    """Why promql-parser refuses the query, or (with `instant`) why its value cannot be an SLI's; None if fine."""
    try:
        expr = promql_parser.parse(query)
    except ValueError as exc:
        return f"invalid PromQL: {exc}"
    while instant and isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    gives = _NOT_INSTANT.get(type(expr)) if instant else None
    if gives is not None:
        return f"gives {gives}; an SLI query must give an instant vector or a number (e.g. wrap it in rate())"
    return None


def _field_problems(objective: Objective, sli_at: tuple[str | int, ...], lines: SpecLines) -> Iterator[Problem]:
    for path, value in v1.sli_fields(objective.sli):
        if isinstance(value, MetricSelector):
            why = parse_problem(promql.selector_text(value))  # e.g. a regex RE2 does not accept
        else:
            why = parse_problem(value.replace(WINDOW_PLACEHOLDER, PARSE_WINDOW), instant=True)
        if why is not None:
            at = (*sli_at, *path)
            yield Problem(lines.line(at), f"{lines.where(at)}: {why}")
