"""The JSON files of a run directory: run.json (typed), soak.json and stress.json; written atomically."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloguard.conventions import API_VERSION, LOAD_RUN_KIND, SOAK_KIND, STRESS_KIND
from sloguard.durations import Window, parse_time
from sloguard.errors import UsageError
from sloguard.files import write_text_atomic
from sloguard.runs.names import RUN_JSON, SOAK_JSON, STRESS_JSON


def write_json(path: Path, doc: Mapping[str, Any], *, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(doc, indent=indent) + "\n")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in a file, or None when it is missing, unreadable or not an object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _time_value(value: object, now: float) -> float:
    if isinstance(value, int | float):
        return float(value)
    return parse_time(str(value), now=now)


# ---- run.json -----------------------------------------------------------------------------------


def window_around(start: float, end: float) -> Window:
    """Outward to the millisecond, so the recorded window always holds every request in it."""
    return Window(math.floor(start * 1000) / 1000, math.ceil(end * 1000) / 1000)


def _window(raw: Mapping[str, Any], now: float) -> Window:
    return Window(_time_value(raw["start"], now), _time_value(raw["end"], now))


@dataclass(frozen=True)
class Interleaved:
    """The block `sloguard load ab` adds to each side's run.json: which pair, which side, which replicas."""

    pair: str | None
    role: str | None
    peer: str | None = None
    targets: tuple[str, ...] = ()  # the replicas that served this side
    peer_targets: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"pair": self.pair, "role": self.role, "peer": self.peer, "targets": list(self.targets),
                "peerTargets": list(self.peer_targets)}  # fmt: skip

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Interleaved:
        def text(key: str) -> str | None:
            value = raw.get(key)
            return value if isinstance(value, str) and value else None

        def urls(key: str) -> tuple[str, ...]:
            value = raw.get(key)
            return tuple(str(u) for u in value) if isinstance(value, list) else ()

        return cls(text("pair"), text("role"), text("peer"), urls("targets"), urls("peerTargets"))


@dataclass(frozen=True)
class RunDocument:
    """run.json (kind LoadRun): what a load run did, the window `sloguard check --run` reads, its variables."""

    window: Window | None  # None only in a hand-written run.json without a readable window
    steady_seconds: float | None = None  # the steady state's length before the window was rounded outward
    profile: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    mode: str | None = None
    workers: int = 0
    # `sloguard check --run` sets these spec variables (load-dependent bounds such as minThroughput).
    slo_variables: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    rate: dict[str, Any] = field(default_factory=dict)  # requested, achieved (req/s)
    requests: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    latency_seconds: dict[str, Any] = field(default_factory=dict)  # p50, p95, p99, max, mean
    rollout: dict[str, Any] = field(default_factory=dict)
    service: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # role -> file name in the run directory
    interleaved: Interleaved | None = None

    @property
    def processes(self) -> int:
        """How many service processes served the run: the replicas of a `load ab` side, else one."""
        targets = self.interleaved.targets if self.interleaved else ()
        return len(targets) if targets else 1

    @property
    def profile_name(self) -> str:
        return str(self.profile.get("name", "?"))

    def to_document(self) -> dict[str, Any]:
        assert self.window is not None, "a run is written with its window"
        doc: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": LOAD_RUN_KIND,
            "profile": self.profile,
            "target": self.target,
            "mode": self.mode,
            "workers": self.workers,
            "window": {"start": self.window.start, "end": self.window.end, "seconds": self.steady_seconds},
            "sloVariables": self.slo_variables,
            "interrupted": self.interrupted,
            "rate": self.rate,
            "requests": self.requests,
            "errors": self.errors,
            "latency_seconds": self.latency_seconds,
            "rollout": self.rollout,
            "service": self.service,
            "generator": self.generator,
            "files": self.files,
        }
        if self.interleaved is not None:
            doc["interleaved"] = self.interleaved.as_dict()
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> RunDocument:
        """The typed run of a LoadRun document; absent or unreadable parts take their defaults."""
        raw_window = _mapping(doc.get("window"))
        try:
            window: Window | None = _window(raw_window, time.time())
        except (KeyError, TypeError, ValueError, UsageError):
            window = None
        seconds = raw_window.get("seconds")
        workers = doc.get("workers")
        raw_interleaved = doc.get("interleaved")
        return cls(
            window=window,
            steady_seconds=float(seconds) if isinstance(seconds, int | float) else None,
            profile=_mapping(doc.get("profile")),
            target=doc.get("target") if isinstance(doc.get("target"), str) else None,
            mode=doc.get("mode") if isinstance(doc.get("mode"), str) else None,
            workers=workers if isinstance(workers, int) else 0,
            slo_variables=_mapping(doc.get("sloVariables")),
            interrupted=bool(doc.get("interrupted")),
            rate=_mapping(doc.get("rate")),
            requests=_mapping(doc.get("requests")),
            errors=_mapping(doc.get("errors")),
            latency_seconds=_mapping(doc.get("latency_seconds")),
            rollout=_mapping(doc.get("rollout")),
            service=_mapping(doc.get("service")),
            generator=_mapping(doc.get("generator")),
            files={str(k): str(v) for k, v in _mapping(doc.get("files")).items()},
            interleaved=Interleaved.from_mapping(raw_interleaved) if isinstance(raw_interleaved, Mapping) else None,
        )


def write_run(directory: Path, run: RunDocument) -> dict[str, Any]:
    """Write DIRECTORY/run.json; returns the document written."""
    doc = run.to_document()
    write_json(directory / RUN_JSON, doc)
    return doc


def run_json(directory: Path) -> Path:
    return directory / RUN_JSON


def read_run(directory: Path) -> RunDocument | None:
    """DIRECTORY/run.json if it is a readable LoadRun document, else None."""
    doc = read_json_object(directory / RUN_JSON)
    return RunDocument.from_document(doc) if doc and doc.get("kind") == LOAD_RUN_KIND else None


def find_run(path_text: str) -> RunDocument | None:
    """The run.json of a run directory, of the directory holding a latency CSV, or the file itself."""
    path = Path(path_text)
    beside_csv = path.suffix.lower() == ".csv"
    candidate = path / RUN_JSON if path.is_dir() else path.parent / RUN_JSON if beside_csv else path
    if candidate.suffix == ".json" and candidate.is_file():
        doc = read_json_object(candidate)
        if doc and doc.get("kind") == LOAD_RUN_KIND:
            return RunDocument.from_document(doc)
    return None


def interleaved_pair(control: str, experiment: str) -> bool:
    """Are the two paths the two sides of one `sloguard load ab` recording?"""
    found = [find_run(p) for p in (control, experiment)]
    marks = [(run.interleaved if run else None) or Interleaved(None, None) for run in found]
    return bool(marks[0].pair) and marks[0].pair == marks[1].pair and marks[0].role != marks[1].role


def read_window(path: Path) -> Window:
    """The steady-state window a load run recorded in its run.json (`sloguard check --run`)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return _window(doc["window"], time.time())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such run file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a run.json with window.start and window.end ({exc})") from None


def read_slo_variables(path: Path) -> dict[str, float]:
    """The spec variables a load run declares (its profile's slo_variables), e.g. minThroughput."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable run file ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a run.json (a JSON object)")
    raw = doc.get("sloVariables") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, int | float) for v in raw.values()):
        raise UsageError(f"{path}: sloVariables must map names to numbers")
    return {str(k): float(v) for k, v in raw.items()}


# ---- soak.json, stress.json ---------------------------------------------------------------------


def write_soak(directory: Path, doc: Mapping[str, Any]) -> Path:
    path = directory / SOAK_JSON
    write_json(path, doc)
    return path


def write_stress(directory: Path, doc: Mapping[str, Any]) -> Path:
    path = directory / STRESS_JSON
    write_json(path, doc)
    return path


def read_soak(directory: Path) -> dict[str, Any] | None:
    """DIRECTORY/soak.json if it is a SoakReport, else None."""
    doc = read_json_object(directory / SOAK_JSON)
    return doc if doc and doc.get("kind") == SOAK_KIND else None


def read_stress(directory: Path) -> dict[str, Any] | None:
    """DIRECTORY/stress.json if it is a StressReport, else None."""
    doc = read_json_object(directory / STRESS_JSON)
    return doc if doc and doc.get("kind") == STRESS_KIND else None
