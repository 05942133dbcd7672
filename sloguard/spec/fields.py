"""The v1 spec's field types: each a plain type annotated with the check whose message the user sees.

`sloguard.spec.v1` builds its models from them; the loader turns a failed check into
`FILE:LINE: field.path: message`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from sloguard.conventions import GENERATED_ALERT_LABELS, RESERVED_LABEL_PREFIX
from sloguard.durations import parse_duration
from sloguard.spec.model import WINDOW_PLACEHOLDER
from sloguard.spec.selector import is_label_name, is_metric_name, parse_selector

HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
BUCKET_LABEL = "le"


class FieldError(ValueError):
    """A validation error at `path` below the model that raised it."""

    # pydantic places an error raised by a model validator at the model itself; the loader
    # appends `path` so that the message names the exact field and its line.

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def show(value: object) -> str:
    """A short repr of user input for messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- field checks (each raises ValueError with the message the user sees) ----------------------


def _objective_name(value: str) -> str:
    ok = value != "" and value[0] != "-" and all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in value)
    if not ok:
        raise ValueError(
            f"{show(value)} is not a valid name: use lowercase letters, digits and '-', starting with a letter or digit"
        )
    return value


def _label_name(value: str) -> str:
    if not is_label_name(value):
        raise ValueError(f"{show(value)} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    if value.startswith("__"):
        raise ValueError(f"{show(value)}: label names starting with __ are reserved by Prometheus")
    return value


def _alert_label_name(value: str) -> str:
    _label_name(value)
    if value in GENERATED_ALERT_LABELS or value.startswith(RESERVED_LABEL_PREFIX):
        raise ValueError(f"{RESERVED_LABEL_PREFIX}* labels and alertname are set by sloguard; choose another label")
    return value


def _rule_label_name(value: str) -> str:
    _label_name(value)
    if value.startswith(RESERVED_LABEL_PREFIX):
        raise ValueError(f"{RESERVED_LABEL_PREFIX}* labels are set by sloguard on every rule; choose another label")
    return value


def _alert_name(value: str) -> str:
    if not is_metric_name(value) or ":" in value:
        raise ValueError(f"{show(value)} is not a valid alert name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return value


def _histogram(value: str) -> str:
    """A histogram's base name, optionally with label matchers: h or h{implementation="rust"}."""
    if "{" not in value and not is_metric_name(value):
        raise ValueError(f"{show(value)} is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    selector = parse_selector(value)  # raises ValueError with the position of the problem
    for suffix in HISTOGRAM_SUFFIXES:
        if selector.metric.endswith(suffix):
            raise ValueError(
                f"give the histogram's base name {show(selector.metric[: -len(suffix)])}, without {suffix}; "
                "sloguard adds _bucket and _count itself"
            )
    if any(matcher.label == BUCKET_LABEL for matcher in selector.matchers):
        raise ValueError(
            f"an {BUCKET_LABEL} matcher is sloguard's to write: a latency reads every bucket, a latencyRatio the "
            "bucket of its threshold"
        )
    return value


def _selector(value: str) -> str:
    parse_selector(value)  # raises ValueError with the position of the problem
    return value


def _duration(value: str) -> str:
    if parse_duration(value) <= 0:
        raise ValueError("must be longer than zero")
    return value


def _windowed_query(value: str) -> str:
    _query(value)
    if WINDOW_PLACEHOLDER not in value:
        raise ValueError(f"must contain {WINDOW_PLACEHOLDER}: without it every burn-rate window reads the same value")
    return value


def _query(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    start = value.find("{{")
    while start != -1:
        if not value.startswith(WINDOW_PLACEHOLDER, start):
            end = value.find("}}", start)
            shown = value[start : end + 2] if 0 < end - start < 40 else value[start : start + 12] + "..."
            raise ValueError(f"unknown placeholder {show(shown)}; the only placeholder is {WINDOW_PLACEHOLDER}")
        start = value.find("{{", start + len(WINDOW_PLACEHOLDER))
    return value


NonEmptyStr = Annotated[str, Field(min_length=1)]
ObjectiveName = Annotated[str, AfterValidator(_objective_name)]
LabelName = Annotated[str, AfterValidator(_label_name)]
AlertLabelName = Annotated[str, AfterValidator(_alert_label_name)]
RuleLabelName = Annotated[str, AfterValidator(_rule_label_name)]
AlertName = Annotated[str, AfterValidator(_alert_name)]
Histogram = Annotated[str, AfterValidator(_histogram)]
Selector = Annotated[str, AfterValidator(_selector)]
Duration = Annotated[str, AfterValidator(_duration)]
Query = Annotated[str, AfterValidator(_query)]
WindowedQuery = Annotated[str, AfterValidator(_windowed_query)]
Percent = Annotated[float, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=0)]
NoDataMode = Literal["fail", "warn", "pass"]
