"""Grafana's template substitution for Prometheus: $var forms, formats, All, and the interval built-ins."""

from __future__ import annotations

import pytest

from sloguard.errors import UsageError
from sloguard.preview.variables import (
    ALL,
    Intervals,
    Scope,
    TimeRange,
    Variable,
    custom_options,
    format_interval,
    interpolate,
    panel_intervals,
    parse_overrides,
    round_interval,
    selection,
)

HOUR = TimeRange(1_800_000_000.0, 1_800_003_600.0, scrape_interval=15)


def scope(*variables: Variable, time: TimeRange = HOUR) -> Scope:
    return Scope({v.name: v for v in variables}, time, panel_intervals(time, 1000))


def impl(selected: tuple[str, ...] = (ALL,), *, all_value: str | None = None, multi: bool = True) -> Variable:
    return Variable("implementation", "custom", ("rust", "python"), selected, include_all=True,
                    all_value=all_value, multi=multi)


def test_every_spelling_of_a_variable_is_replaced() -> None:
    s = scope(impl(("rust",)))
    assert interpolate('x{i="$implementation"} ${implementation} [[implementation]]', s) == 'x{i="rust"} rust rust'
    assert s.used == {"implementation"}


def test_all_without_all_value_is_the_regex_of_every_option() -> None:
    assert interpolate('{i=~"$implementation"}', scope(impl())) == '{i=~"(rust|python)"}'


def test_all_with_all_value_is_used_verbatim_whatever_the_format() -> None:
    s = scope(impl(all_value=".*"))
    assert interpolate("$implementation ${implementation:regex} ${implementation:pipe}", s) == ".* .* .*"
    assert interpolate("${implementation:text}", s) == "All"


def test_formats() -> None:
    s = scope(impl(("rust", "python")))
    assert interpolate("${implementation:pipe}|${implementation:csv}|${implementation:regex}", s) == \
        "rust|python|rust,python|(rust|python)"
    assert interpolate("${implementation:json} ${implementation:doublequote}", s) == \
        '["rust", "python"] "rust","python"'
    with pytest.raises(UsageError, match="unsupported format"):
        interpolate("${implementation:nonsense}", s)


def test_regex_values_are_escaped_for_a_promql_string() -> None:
    v = Variable("job", "custom", ("a.b", "c"), ("a.b", "c"), multi=True)
    assert interpolate("$job", scope(v)) == "(a\\\\.b|c)"
    single = Variable("job", "custom", ("a.b",), ("a.b",))
    assert interpolate("$job", scope(single)) == "a.b"  # a single-value variable goes in raw


def test_unknown_names_stay() -> None:
    assert interpolate("$nope ${nope} [[nope]]", scope()) == "$nope ${nope} [[nope]]"


def test_rate_interval_is_grafanas_formula() -> None:
    # One hour over 1000 points: 3.6 s rounds to 5 s; at least the scrape interval (15 s); rate = max(15+15, 60).
    assert panel_intervals(HOUR, 1000) == Intervals(15, 60)
    fast = TimeRange(HOUR.start, HOUR.end, scrape_interval=5)
    assert panel_intervals(fast, 1000) == Intervals(5, 20)
    day = TimeRange(0, 86400, scrape_interval=15)
    assert panel_intervals(day, 1000) == Intervals(60, 75)  # 86.4 s rounds to 1m; 1m + 15 s
    s = scope(time=fast)
    assert interpolate("rate(x[$__rate_interval]) step $__interval", s) == "rate(x[20s]) step 5s"


def test_range_and_time_builtins() -> None:
    s = scope()
    assert interpolate("$__range $__range_s $__range_ms", s) == "3600s 3600 3600000"
    assert interpolate("$__from $__to ${__from:date:seconds}", s) == "1800000000000 1800003600000 1800000000"


def test_round_interval_and_format() -> None:
    assert [round_interval(s) for s in (0.004, 3.6, 13, 40, 100, 4000)] == [0.01, 5, 15, 30, 120, 3600]
    assert [format_interval(s) for s in (0.5, 15, 60, 75, 3600, 86400)] == ["500ms", "15s", "1m", "75s", "1h", "1d"]


def test_custom_options_and_selection() -> None:
    assert custom_options("rust, python,Both : rust\\,python") == ["rust", "python", "rust,python"]
    assert selection("$__all", ["a", "b"], include_all=True) == (ALL,)
    assert selection(["b"], ["a", "b"], include_all=True) == ("b",)
    assert selection("gone", ["a", "b"], include_all=False) == ("a",)  # a stale selection: the first option
    assert selection(None, ["a", "b"], include_all=True) == (ALL,)


def test_var_overrides() -> None:
    assert parse_overrides(["implementation=rust", "x=a,b", "y=All"]) == {
        "implementation": ("rust",), "x": ("a", "b"), "y": (ALL,)}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_overrides(["novalue"])
