"""Prometheus-style durations: parsing to seconds and formatting range selectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloguard.durations import format_promql_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1y", 31536000.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("500ms", 0.5),
        ("0s", 0.0),
        ("0", 0.0),
        ("007s", 7.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty duration"),
        ("-5m", "expected a number"),
        ("5", "units are"),
        ("m", "expected a number"),
        ("1.5h", "units are"),
        ("5 m", "units are"),
        (" 5m", "expected a number"),
        ("5M", "units are"),
        ("5min", "units are"),
        ("30m1h", "largest to smallest"),
        ("1h1h", "largest to smallest"),
        ("1ms1s", "largest to smallest"),
        ("٣s", "expected a number"),  # a non-ASCII digit
        ("99999999999999999999y", "too long"),
    ],
)
def test_parse_duration_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_duration(text)


def test_parse_duration_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_duration(3600)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (600, "600s"),
        (600.0, "600s"),
        (1.5, "1500ms"),
        (0.001, "1ms"),
        (3600, "3600s"),
        (0.1 + 0.2, "300ms"),  # float noise does not leak into the query
        (86400 * 30, "2592000s"),
    ],
)
def test_format_promql_duration(seconds: float, text: str) -> None:
    assert format_promql_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0, -1, 0.0004, float("nan"), float("inf"), True])
def test_format_promql_duration_rejects(seconds: float) -> None:
    with pytest.raises(ValueError):
        format_promql_duration(seconds)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**12))
def test_format_then_parse_is_identity_to_the_millisecond(ms: int) -> None:
    assert round(parse_duration(format_promql_duration(ms / 1000)) * 1000) == ms


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_parse_duration_only_raises_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0
