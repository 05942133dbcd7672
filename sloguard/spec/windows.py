"""Burn-rate windows files (kind BurnRateWindows): data, not code, read once into typed windows.

A windows file names the SLO period, the page and ticket pairs of multi-window multi-burn-rate
alerts, and the timing of threshold alerts. The built-in ones are package data
(sloguard/data/burn-windows-<name>.yaml); a spec's `alerting.windows` or `--windows` may name
a built-in or a file of its own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from sloguard import conventions as c
from sloguard.durations import parse_duration
from sloguard.errors import UsageError
from sloguard.spec.model import SLI, MemoryGrowthSLI, SLOSet


class Duration(str):
    """A Prometheus duration as the windows file spells it ("1h"), that also knows its seconds.

    It is a str so that it prints as written wherever a generated file names it (the rule
    slo:sli_error:ratio_rate1h, a range [1h], a sloth_window label); `seconds` orders and
    compares windows without parsing them again.
    """

    seconds: float

    def __new__(cls, text: object, *, zero: bool = False) -> Duration:
        spelled = str(text)
        seconds = parse_duration(spelled)  # ValueError with the reason
        if seconds <= 0 and not zero:
            raise ValueError(f"{spelled}: must be longer than zero")
        duration = super().__new__(cls, spelled)
        duration.seconds = seconds
        return duration


@dataclass(frozen=True)
class BurnWindow:
    """Alert when both the long and the short window burn faster than `factor` x the budget."""

    long: Duration
    short: Duration
    factor: float


@dataclass(frozen=True)
class Windows:
    """A burn-rate windows file: the SLO period, page and ticket pairs, threshold alert timing."""

    name: str
    version: int
    period: Duration
    page: tuple[BurnWindow, ...]
    ticket: tuple[BurnWindow, ...]
    threshold_window: Duration
    threshold_for: Duration
    growth_window: Duration
    growth_for: Duration
    target_for: Duration
    source: str = ""

    def ratio_windows(self) -> list[Duration]:
        """Every window a ratio SLI is recorded over, shortest first (the period comes last)."""
        return _by_length({w for pair in self.pairs() for w in (pair.long, pair.short)})

    def short_windows(self) -> list[Duration]:
        """The short window of every pair, shortest first: where the low-traffic guard counts events."""
        return _by_length({pair.short for pair in self.pairs()})

    def pairs(self) -> tuple[BurnWindow, ...]:
        return (*self.page, *self.ticket)

    def severities(self) -> list[tuple[str, tuple[BurnWindow, ...]]]:
        return [(c.SEVERITY_PAGE, self.page), (c.SEVERITY_TICKET, self.ticket)]

    def value_window(self, sli: SLI) -> Duration:
        """The window a threshold SLI's value is read over: memory growth takes the longer growth window."""
        return self.growth_window if isinstance(sli, MemoryGrowthSLI) else self.threshold_window

    def value_for(self, sli: SLI) -> Duration:
        """How long a threshold SLI must be out of bounds before its alert fires."""
        return self.growth_for if isinstance(sli, MemoryGrowthSLI) else self.threshold_for


def _by_length(windows: set[Duration]) -> list[Duration]:
    return sorted(windows, key=lambda w: w.seconds)


def windows_for(slo_set: SLOSet, override: str | None) -> Windows:
    """The windows file named on the command line, else the spec's, else the built-in default."""
    return load_windows(resolve_windows(override or slo_set.alerting.windows, slo_set.source))


def builtin_windows(name: str) -> Traversable | None:
    """The package-data file of a built-in windows name (e.g. google), or None."""
    resource = resources.files("sloguard") / "data" / f"burn-windows-{name}.yaml"
    return resource if resource.is_file() else None


def resolve_windows(ref: str, spec_source: str = "") -> Traversable:
    """A windows reference: a built-in name, else a path (relative paths from the spec's directory)."""
    ref = ref or c.DEFAULT_WINDOWS
    builtin = builtin_windows(ref)
    if builtin is not None:
        return builtin
    path = Path(ref)
    if not path.is_absolute() and spec_source and not path.exists():
        path = Path(spec_source).parent / path
    if not path.is_file():
        raise UsageError(f"burn-rate windows {ref!r}: not a built-in name ({c.DEFAULT_WINDOWS}) nor a file")
    return path


def load_windows(path: Traversable) -> Windows:
    """Read and check a windows file; UsageError naming the file on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read burn-rate windows ({exc})") from None
    return _parse(text, str(path))


@functools.cache
def _parse(text: str, source: str) -> Windows:
    # Keyed by the text as well as the name: a file edited between two calls is read afresh.
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: cannot read burn-rate windows ({exc})") from None
    try:
        return _windows(doc, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{source}: invalid burn-rate windows file: {exc}") from None


def _windows(doc: Any, source: str) -> Windows:
    if not isinstance(doc, dict) or doc.get("apiVersion") != c.API_VERSION or doc.get("kind") != c.WINDOWS_KIND:
        raise ValueError(f"expected apiVersion {c.API_VERSION} and kind {c.WINDOWS_KIND}")
    pairs = {
        severity: tuple(_pair(p) for p in doc[severity]) for severity in (c.SEVERITY_PAGE, c.SEVERITY_TICKET)
    }
    for severity, windows in pairs.items():
        for pair in windows:
            if pair.short.seconds >= pair.long.seconds or pair.factor <= 0:
                raise ValueError(f"{severity}: short must be shorter than long and factor above 0")
    return Windows(
        name=str(doc["name"]),
        version=int(doc["version"]),
        period=Duration(doc["period"]),
        page=pairs[c.SEVERITY_PAGE],
        ticket=pairs[c.SEVERITY_TICKET],
        threshold_window=Duration(doc["threshold"]["window"]),
        threshold_for=Duration(doc["threshold"]["for"], zero=True),
        growth_window=Duration(doc["growth"]["window"]),
        growth_for=Duration(doc["growth"]["for"], zero=True),
        target_for=Duration(doc["target"]["for"], zero=True),
        source=source,
    )


def _pair(doc: Any) -> BurnWindow:
    return BurnWindow(Duration(doc["long"]), Duration(doc["short"]), float(doc["factor"]))
