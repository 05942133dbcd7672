"""Prometheus-style durations ("90s", "1h30m", "500ms") to seconds and back; points in time; windows, their coverage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from sloguard.errors import UsageError

# Units in the order Prometheus requires them (largest first), in milliseconds.
_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_UNIT_MS = dict(_UNITS)
_UNIT_RANK = {unit: rank for rank, (unit, _) in enumerate(_UNITS)}
# Prometheus stores durations as int64 milliseconds; anything longer cannot be a range.
_MAX_MS = 2**63 - 1


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as "5m", "1h30m" or "500ms"; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError("a duration must be a string such as 5m or 1h")
    if text == "":
        raise ValueError("empty duration; write e.g. 5m or 1h")
    if text == "0":  # Prometheus accepts a bare zero
        return 0.0
    total_ms = 0
    last_rank = -1
    i = 0
    while i < len(text):
        start = i
        while i < len(text) and "0" <= text[i] <= "9":
            i += 1
        if i == start:
            raise ValueError(_bad(text, "expected a number"))
        number = int(text[start:i])
        unit_start = i
        while i < len(text) and text[i].isascii() and text[i].isalpha():
            i += 1
        unit = text[unit_start:i]
        if unit not in _UNIT_MS:
            raise ValueError(_bad(text, "units are ms, s, m, h, d, w, y"))
        rank = _UNIT_RANK[unit]
        if rank <= last_rank:
            raise ValueError(_bad(text, "units must go from largest to smallest, each once"))
        last_rank = rank
        total_ms += number * _UNIT_MS[unit]
        if total_ms > _MAX_MS:
            raise ValueError(_bad(text, "too long"))
    return total_ms / 1000.0


def format_promql_duration(seconds: float) -> str:
    """A PromQL range such as "600s" or "1500ms"; rounded to the millisecond, Prometheus' resolution."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
        raise ValueError(f"not a finite number of seconds: {seconds!r}")
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a range must be at least 1ms, got {seconds!r} s")
    if ms > _MAX_MS:
        raise ValueError(f"a range this long cannot be a PromQL duration: {seconds!r} s")
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _bad(text: str, why: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return f"invalid duration {shown!r}: {why}"


@dataclass(frozen=True)
class Window:
    """A window of time [start, end] in unix seconds: a check's, or the steady state a load run recorded."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def parse_time(text: str, *, now: float) -> float:
    """Unix seconds, RFC 3339 ("2026-11-26T14:00:00Z") or "now"."""
    text = text.strip()
    if text == "now":
        return now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read time {text!r}: give unix seconds, RFC 3339 or 'now'") from None
    if parsed.tzinfo is None:
        raise UsageError(f"time {text!r} has no timezone: add Z or +00:00")
    return parsed.timestamp()


def iso(ts: float) -> str:
    """RFC 3339 UTC with a Z, to the millisecond."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class WindowCoverage:
    """How much of a window the samples of one series (per group) cover, as increase() reads them."""

    fraction: float  # 0..1 of the window's length
    series: str  # the selector the coverage was measured on
    first: float | None = None  # unix s of the first sample in the window (the start when one preceded it)
    last: float | None = None  # unix s of the last sample at or before the window's end
    interval: float | None = None  # mean seconds between samples; None with fewer than two
    note: str = ""  # why the data covers less than the whole window; "" when it covers it

    def to_document(self) -> dict[str, object]:
        """The report's `coverage` object (JSON contract)."""
        return {
            "fraction": round(self.fraction, 4),
            "firstSample": None if self.first is None else iso(self.first),
            "lastSample": None if self.last is None else iso(self.last),
            "sampleSeconds": None if self.interval is None else round(self.interval, 3),
            "series": self.series,
            "note": self.note,
        }
