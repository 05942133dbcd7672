"""Fault injection per implementation: added latency, error ratio, memory leaked per request,
and simulated Rust failures (panics) that exercise the fallback to Python."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sloguard import conventions as c
from sloguard.errors import UsageError

FAULT_KINDS = ("latency", "errors", "leak", "panics")

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(us|µs|ms|s)?\s*$")
_BYTES = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {
    None: 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}  # fmt: skip


def parse_duration(text: str) -> float:
    """'20ms', '500us', '1.5s' or '0.02' (seconds) -> seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(f"invalid duration {text!r} (e.g. 20ms, 500us, 0.02)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def parse_ratio(text: str) -> float:
    """'5%' or '0.05' -> 0.05, within 0-1."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"invalid ratio {text!r} (e.g. 5% or 0.05)") from None
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"ratio {text!r} must be within 0-1 (0-100%)")
    return value


def parse_bytes(text: str) -> int:
    """'64KiB', '1MiB', '65536' -> bytes."""
    match = _BYTES.match(str(text))
    if not match:
        raise UsageError(f"invalid size {text!r} (e.g. 64KiB, 1MiB, 65536)")
    unit = match.group(2).lower() if match.group(2) else None
    return int(float(match.group(1)) * _BYTE_UNITS[unit])


_PARSERS = {"latency": parse_duration, "errors": parse_ratio, "leak": parse_bytes, "panics": parse_ratio}


def parse_fault(kind: str, spec: str) -> tuple[str, float]:
    """'rust:20ms' -> ('rust', 0.02). Panics take a flag instead: 'rust_opa:10%'."""
    target, sep, value = str(spec).partition(":")
    target = target.strip()
    if not sep:
        raise UsageError(f"invalid --inject-{kind} {spec!r} (expected TARGET:VALUE, e.g. rust:20ms)")
    allowed = c.FEATURE_FLAGS if kind == "panics" else c.IMPLEMENTATIONS
    if target not in allowed:
        raise UsageError(f"--inject-{kind} target must be one of {', '.join(allowed)}, got {target!r}")
    return target, _PARSERS[kind](value)


@dataclass
class Faults:
    """The faults in force; read on every request, changed by CLI flags and the admin API."""

    latency: dict[str, float] = field(default_factory=dict)  # implementation -> seconds added
    errors: dict[str, float] = field(default_factory=dict)  # implementation -> ratio of failed evaluations
    leak: dict[str, int] = field(default_factory=dict)  # implementation -> bytes kept per request
    panics: dict[str, float] = field(default_factory=dict)  # rust flag -> ratio of simulated Rust failures
    _leaked: list[bytearray] = field(default_factory=list, repr=False)
    leaked_bytes: int = 0

    def set(self, kind: str, target: str, value: float) -> None:
        """Set one fault; a zero value clears it."""
        if kind not in FAULT_KINDS:
            raise UsageError(f"unknown fault {kind!r} (expected one of {', '.join(FAULT_KINDS)})")
        table: dict[str, Any] = getattr(self, kind)
        if value:
            table[target] = int(value) if kind == "leak" else float(value)
        else:
            table.pop(target, None)

    @classmethod
    def from_flags(cls, *, latency: Sequence[str] = (), errors: Sequence[str] = (), leak: Sequence[str] = (),
                   panics: Sequence[str] = ()) -> Faults:
        """The faults of `sloguard demo serve --inject-latency rust:20ms --inject-errors python:5%` and so on."""
        faults = cls()
        for kind, specs in (("latency", latency), ("errors", errors), ("leak", leak), ("panics", panics)):
            for spec in specs:
                faults.set(kind, *parse_fault(kind, spec))
        return faults

    def update(self, document: Any) -> None:
        """Apply {"latency": {"rust": "20ms"}, "errors": {"python": "5%"}, ...} (values parsed like the CLI's)."""
        if not isinstance(document, dict):
            raise UsageError("faults must be a JSON object")
        for kind, entries in document.items():
            if kind not in FAULT_KINDS or not isinstance(entries, dict):
                raise UsageError(f"unknown fault {kind!r} (expected one of {', '.join(FAULT_KINDS)} with an object)")
            for target, value in entries.items():
                self.set(kind, *parse_fault(kind, f"{target}:{value}"))

    def clear(self) -> None:
        """Remove every fault and release leaked memory."""
        self.latency.clear()
        self.errors.clear()
        self.leak.clear()
        self.panics.clear()
        self._leaked.clear()
        self.leaked_bytes = 0

    def fail(self, implementation: str) -> bool:
        """Whether this evaluation fails by injection."""
        ratio = self.errors.get(implementation)
        return bool(ratio) and random.random() < ratio  # type: ignore[operator]

    def panic(self, feature: str) -> bool:
        """Whether the Rust side of this flag fails by injection (falls back to Python)."""
        ratio = self.panics.get(feature)
        return bool(ratio) and random.random() < ratio  # type: ignore[operator]

    def leak_for(self, implementation: str) -> None:
        """Keep the configured bytes forever; filled, so the pages count in RSS."""
        size = self.leak.get(implementation)
        if size:
            self._leaked.append(bytearray(b"\x5a") * size)
            self.leaked_bytes += size

    def state(self) -> dict[str, Any]:
        """What the admin API reports."""
        return {
            "latency": dict(self.latency),
            "errors": dict(self.errors),
            "leak": dict(self.leak),
            "panics": dict(self.panics),
            "leaked_bytes": self.leaked_bytes,
        }
