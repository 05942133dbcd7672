"""Grafana's value formatting as the preview prints it: units, auto-scaling and decimals."""

from __future__ import annotations

import math

import pytest

from sloguard.preview.charts import tick_label
from sloguard.preview.units import auto_decimals, format_value


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (0.0004, "s", None, "400 µs"),
        (0.0123, "s", None, "12.3 ms"),
        (0.0000005, "s", None, "500 ns"),
        (1.5, "s", None, "1.50 s"),
        (90, "s", None, "1.50 min"),
        (0, "s", None, "0 s"),
        (0.0025, "s", 3, "2.500 ms"),
        (12.5, "ms", None, "12.5 ms"),
        (1500, "ms", None, "1.50 s"),
        (0.5, "ms", None, "0.500 ms"),  # ms never scales below itself (Grafana's toMilliSeconds)
        (400, "µs", None, "400 µs"),
        (2500, "µs", None, "2.50 ms"),
        (0.05, "percentunit", None, "5%"),
        (0.9734, "percentunit", 1, "97.3%"),
        (99.5, "percent", 1, "99.5%"),
        (150, "reqps", None, "150 req/s"),
        (1500, "reqps", None, "1.50K req/s"),
        (4.2, "ops", None, "4.20 ops"),
        (1536 * 1024, "bytes", None, "1.50 MiB"),
        (512, "bytes", None, "512 B"),
        (12345, "short", None, "12.3 K"),
        (2.5, "x", None, "2.50 x"),
        (3, "none", None, "3"),
        (7.25, "suffix:/h", None, "7.25/h"),
        (7, "widgets", None, "7 widgets"),  # an unknown unit id is a suffix, as in Grafana
    ],
)
def test_units_print_as_grafana_does(value: float, unit: str, decimals: int | None, expected: str) -> None:
    assert format_value(value, unit, decimals) == expected


def test_auto_decimals_keep_three_significant_digits() -> None:
    assert [auto_decimals(v) for v in (400, 12.3, 2.5, 0.05, 0.0123, 7)] == [0, 1, 2, 4, 4, 0]


def test_specials_and_no_negative_zero() -> None:
    assert format_value(math.nan, "s") == "NaN"
    assert format_value(math.inf, "percentunit") == "+Inf"
    assert format_value(-0.0001, "none", 2) == "0.00"


def test_axis_labels_drop_trailing_zeros() -> None:
    assert [tick_label(v, "s", None) for v in (0, 0.0025, 0.004)] == ["0 s", "2.5 ms", "4 ms"]
    assert tick_label(0.25, "percentunit", None) == "25%"
    assert tick_label(0.0025, "s", 3) == "2.500 ms"  # the panel's decimals win


def test_axis_labels_of_a_narrow_range_stay_distinct() -> None:
    from sloguard.numbers import nice_ticks
    from sloguard.preview.charts import axis_labels
    from sloguard.preview.model import FieldConfig

    labels = [label for _, label in axis_labels(nice_ticks(0.002255, 0.002265), FieldConfig(unit="s"))]
    assert len(set(labels)) == len(labels) > 2, labels
    assert all(label.endswith(" ms") for label in labels)
