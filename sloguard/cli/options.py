"""Option values as the commands receive them, parsed once: fractions, durations, filters, formats, windows."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sloguard import runs
from sloguard.check import FORMATS
from sloguard.durations import Window, parse_duration, parse_time
from sloguard.errors import UsageError


def parse_fraction(text: str, *, option: str = "--max-regression") -> float:
    """"10%" or "0.1" -> 0.1."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r}: give a fraction (0.1) or a percentage (10%)") from None
    if not 0 <= value < 10:
        raise UsageError(f"{option} {text!r}: out of range")
    return value


def parse_step(text: str, *, option: str = "--step") -> float:
    """A positive duration such as 10s, in seconds."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option} {text!r}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option} must be positive")
    return seconds


def parse_filters(items: Iterable[str]) -> dict[str, str]:
    """`implementation=rust` style filters on CSV columns."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--filter {item!r}: write COLUMN=VALUE, e.g. implementation=rust")
        out[key.strip()] = value.strip()
    return out


def parse_variables(items: Sequence[str]) -> dict[str, float]:
    """--var NAME=NUMBER options."""
    variables = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            variables[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--var {item!r}: write NAME=NUMBER") from None
    return variables


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown format {','.join(unknown) or text!r}: choose from {','.join(FORMATS)}")
    return formats


def resolve_window(
    *, last: str | None, start: str | None, end: str | None, run: str | None, now: float | None = None
) -> Window:
    """The window from exactly one of --last, --start/--end or --run."""
    now = time.time() if now is None else now
    given = [name for name, v in (("--last", last), ("--start/--end", start or end), ("--run", run)) if v]
    if len(given) != 1:
        raise UsageError("give exactly one of --last, --start/--end or --run")
    if last:
        try:
            seconds = parse_duration(last)
        except ValueError as exc:
            raise UsageError(f"--last {last!r}: {exc}") from None
        window = Window(now - seconds, now)
    elif run:
        window = runs.read_window(Path(run))
    else:
        if not (start and end):
            raise UsageError("--start and --end go together")
        window = Window(parse_time(start, now=now), parse_time(end, now=now))
    if window.seconds <= 0:
        raise UsageError("the window must end after it starts")
    return window
