"""The small PromQL selector parser used for SLI metrics in the spec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloguard.spec.model import Matcher, MetricSelector
from sloguard.spec.selector import is_label_name, is_metric_name, parse_selector


def test_plain_metric() -> None:
    assert parse_selector("sark_authz_requests_total") == MetricSelector("sark_authz_requests_total")


def test_matchers_with_every_operator() -> None:
    text = 'sark_authz_requests_total{decision="error", implementation=~"rust|python", a!="x", b!~"y.*"}'
    assert parse_selector(text) == MetricSelector(
        "sark_authz_requests_total",
        (
            Matcher("decision", "=", "error"),
            Matcher("implementation", "=~", "rust|python"),
            Matcher("a", "!=", "x"),
            Matcher("b", "!~", "y.*"),
        ),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m{}", MetricSelector("m")),
        ("  m  { a = 'x' , }  ", MetricSelector("m", (Matcher("a", "=", "x"),))),
        ("ns:rule:rate5m", MetricSelector("ns:rule:rate5m")),
        ("m{a=``}", MetricSelector("m", (Matcher("a", "=", ""),))),
        ("m{a=`x\\ny`}", MetricSelector("m", (Matcher("a", "=", "x\\ny"),))),  # raw: no escapes
        ('m{a="q\\"uote"}', MetricSelector("m", (Matcher("a", "=", 'q"uote'),))),
        ('m{a="back\\\\slash"}', MetricSelector("m", (Matcher("a", "=", "back\\slash"),))),
        ("m{a='it\\'s'}", MetricSelector("m", (Matcher("a", "=", "it's"),))),
        ('m{a="tab\\tnl\\n"}', MetricSelector("m", (Matcher("a", "=", "tab\tnl\n"),))),
        ('m{a="\\x41\\101\\u00e9\\U0001F600"}', MetricSelector("m", (Matcher("a", "=", "AAé😀"),))),
        ('m{a="é,}{"}', MetricSelector("m", (Matcher("a", "=", "é,}{"),))),
        ('m{a="1",a="2"}', MetricSelector("m", (Matcher("a", "=", "1"), Matcher("a", "=", "2")))),
    ],
)
def test_parses(text: str, expected: MetricSelector) -> None:
    assert parse_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid selector at the end: expected a metric name"),
        ("   ", "invalid selector at the end: expected a metric name"),
        ("9metric", "invalid selector at character 1: expected a metric name"),
        ('{job="x"}', "invalid selector at character 1: put the metric name before the braces"),
        ("m{", "invalid selector at the end: expected a label name"),
        ('m{a="x"', 'invalid selector at the end: expected "," or "}"'),
        ('m{a="x" b="y"}', 'invalid selector at character 9: expected "," or "}"'),
        ("m{a=x}", "invalid selector at character 5: expected a quoted label value"),
        ('m{a=="x"}', "invalid selector at character 5: expected a quoted label value"),
        ('m{a~"x"}', 'invalid selector at character 4: expected "=", "!=", "=~" or "!~" after label \'a\''),
        ('m{a<"x"}', 'invalid selector at character 4: expected "=", "!=", "=~" or "!~"'),
        ('m{1a="x"}', "invalid selector at character 3: expected a label name"),
        ('m{a:b="x"}', 'invalid selector at character 4: expected "=", "!=", "=~" or "!~"'),
        ('m{__name__="x"}', "instead of a __name__ matcher"),
        ('m{a="x}', "invalid selector at the end: unterminated string"),
        ('m{a="x\ny"}', "newline in a quoted string"),
        ('m{a="\\q"}', "unknown escape \\q"),
        ('m{a="\\', "backslash at the end"),
        ('m{a="\\x4"}', "escape needs 2 digits"),
        ('m{a="\\xff"}', "must be ASCII"),
        ('m{a="\\ud800"}', "not a valid character"),
        ('m{a="\\U00110000"}', "not a valid character"),
        ('m{a="\ud800"}', "lone surrogate"),
        ('m{a="x"} extra', "invalid selector at character 10: unexpected 'e'"),
        ('sum(m{a="x"})', "invalid selector at character 4: unexpected '('"),
        ('m{a="x"}[5m]', "unexpected '['"),
        ("métric", "unexpected 'é'"),
    ],
)
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid selector") as caught:
        parse_selector(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_selector(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "metric", "label"),
    [
        ("a", True, True),
        ("_a9", True, True),
        ("a:b", True, False),
        (":a", True, False),
        ("9a", False, False),
        ("", False, False),
        ("a-b", False, False),
        ("é", False, False),
    ],
)
def test_name_grammar(name: str, metric: bool, label: bool) -> None:
    assert is_metric_name(name) is metric
    assert is_label_name(name) is label


def _go_quote(value: str) -> str:
    """Quote like Go's strconv.Quote for the characters the strategy draws (reference, not sloguard's code)."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_labels = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,8}\Z").filter(lambda name: name != "__name__")
_values = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    metric=st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,12}\Z"),
    matchers=st.lists(st.tuples(_labels, st.sampled_from(["=", "!=", "=~", "!~"]), _values), max_size=4),
)
def test_round_trip_through_quoting(metric: str, matchers: list[tuple[str, str, str]]) -> None:
    text = metric + "{" + ", ".join(f"{label}{op}{_go_quote(value)}" for label, op, value in matchers) + "}"
    assert parse_selector(text) == MetricSelector(metric, tuple(Matcher(*matcher) for matcher in matchers))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_:9{}=!~\"'`\\, x\n")) | st.characters(), max_size=30))
def test_garbage_only_raises_value_error(text: str) -> None:
    try:
        selector = parse_selector(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    assert is_metric_name(selector.metric)
    assert all(is_label_name(matcher.label) for matcher in selector.matchers)
