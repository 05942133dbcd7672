"""What an imported SLI query is: a plain counter ratio side, a query with a window, or a bare selector.

A query whose whole shape is `sum(rate(SEL[{{window}}]))` (or `sum by (a, b) (...)`) is read
by a real PromQL parser (promql-parser) rather than a pattern, so spacing, line breaks, quoting
and escapes cannot make a plain query look otherwise, nor a subquery or an offset look plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import promql_parser

from sloguard.importers.formats import SLOTH_WINDOW, SLOTH_WINDOW_PATTERN
from sloguard.spec.model import WINDOW_PLACEHOLDER, Matcher, MetricSelector
from sloguard.spec.selector import parse_selector

# Stands in for {{window}} while parsing: a duration no hand-written query uses, so a fixed
# window such as [5m] is never taken for the placeholder.
_PARSE_WINDOW = timedelta(days=7777, seconds=7)
_PARSE_WINDOW_TEXT = "7777d7s"
_OPERATORS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_COUNTER_FUNCTIONS = ("rate", "increase")


@dataclass(frozen=True)
class CounterSum:
    """`sum by (by) (function(selector[{{window}}]))`: one side of a plain events ratio."""

    selector: MetricSelector
    by: tuple[str, ...]
    function: str  # rate or increase: both sides of a ratio must agree for it to be a plain errorRatio


def from_sloth(query: str) -> str:
    """Sloth's {{.window}} as sloguard's {{window}}; line breaks and runs of spaces fold to one space."""
    return SLOTH_WINDOW_PATTERN.sub(WINDOW_PLACEHOLDER, " ".join(query.split()))


def to_sloth(query: str) -> str:
    """sloguard's {{window}} as Sloth's {{.window}}."""
    return query.replace(WINDOW_PLACEHOLDER, SLOTH_WINDOW)


def has_window(query: str) -> bool:
    """True when the query says where the window goes, in either spelling."""
    return WINDOW_PLACEHOLDER in query or bool(SLOTH_WINDOW_PATTERN.search(query))


def plain_selector(query: str) -> MetricSelector | None:
    """The selector when the whole query is one, such as m{a="b"}, else None."""
    try:
        return parse_selector(query.strip())
    except ValueError:
        return None


def counter_sum(query: str) -> CounterSum | None:
    """The parts of `sum [by (...)] (rate|increase(SEL[{{window}}]))`, or None for any other query."""
    try:
        expr = promql_parser.parse(query.replace(WINDOW_PLACEHOLDER, _PARSE_WINDOW_TEXT))
    except ValueError:
        return None  # not PromQL this parser reads: kept verbatim, promtool judges it
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    if not isinstance(expr, promql_parser.AggregateExpr) or str(expr.op) != "sum" or expr.param is not None:
        return None
    by: tuple[str, ...] = ()
    if expr.modifier is not None:
        if expr.modifier.type != promql_parser.AggModifierType.By:
            return None  # `without` keeps labels that are not named here
        by = tuple(expr.modifier.labels)
    call = expr.expr
    while isinstance(call, promql_parser.ParenExpr):
        call = call.expr
    if not isinstance(call, promql_parser.Call) or call.func.name not in _COUNTER_FUNCTIONS or len(call.args) != 1:
        return None
    matrix = call.args[0]
    if not isinstance(matrix, promql_parser.MatrixSelector) or matrix.range != _PARSE_WINDOW:
        return None
    selector = _selector(matrix.vector_selector)
    return None if selector is None else CounterSum(selector, by, call.func.name)


def _selector(vector: promql_parser.VectorSelector) -> MetricSelector | None:
    """The selector as sloguard writes one: a metric name and plain matchers, no offset, @ or `or`."""
    if vector.name is None or vector.offset is not None or vector.at is not None or vector.matchers.or_matchers:
        return None
    matchers = []
    for matcher in vector.matchers.matchers:
        op = _OPERATORS.get(str(matcher.op).rsplit(".", 1)[-1])
        if op is None or matcher.name == "__name__":
            return None
        matchers.append(Matcher(matcher.name, op, matcher.value))
    return MetricSelector(vector.name, tuple(matchers))
