"""Load profiles (loadgen/profiles.yaml): tunables as data, validated on load with file:line errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from sloguard.conventions import API_VERSION, FEATURE_FLAGS
from sloguard.durations import parse_duration
from sloguard.errors import SpecError

PROFILES_KIND = "LoadProfiles"
USER_CLASSES = ("SARKUser", "ReadHeavyUser", "CacheMissUser", "ComplexPolicyUser")
_FIELDS = {"description", "user_class", "users", "spawn_rate", "rate", "duration", "warmup", "rollout",
           "max_in_flight", "timeout", "slo_variables"}  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """One named load profile; durations in seconds, rate in requests per second (total)."""

    name: str
    user_class: str
    users: int  # Locust users (concurrency of the closed-loop run)
    spawn_rate: float  # users started per second
    rate: float  # requested requests per second
    duration: float  # the steady-state window
    warmup: float  # after ramp-up, before the window opens
    rollout: dict[str, float] = field(default_factory=dict)  # flag -> percent routed to Rust
    max_in_flight: int = 512  # open loop: outstanding requests before the backlog
    timeout: float = 10.0  # per request
    description: str = ""
    # Spec variables whose right value depends on this load (e.g. minThroughput); they move with
    # the rate when --scale or --rate changes it, and reach `sloguard check` through run.json.
    slo_variables: dict[str, float] = field(default_factory=dict)

    def scaled(self, factor: float) -> Profile:
        """The same profile shrunk (or grown) by `factor`: users, spawn rate and rate; not durations."""
        if factor == 1.0:
            return self
        return replace(
            self,
            users=max(1, math.ceil(self.users * factor)),
            spawn_rate=max(1.0, self.spawn_rate * factor),
            rate=max(1.0, self.rate * factor),
            max_in_flight=max(8, math.ceil(self.max_in_flight * factor)),
            slo_variables={k: v * factor for k, v in self.slo_variables.items()},
        )

    def with_overrides(self, *, rate: float | None = None, duration: float | None = None,
                       warmup: float | None = None) -> Profile:
        factor = 1.0 if rate is None else rate / self.rate
        return replace(
            self,
            rate=self.rate if rate is None else rate,
            slo_variables={k: v * factor for k, v in self.slo_variables.items()},
            duration=self.duration if duration is None else duration,
            warmup=self.warmup if warmup is None else warmup,
        )

    @property
    def ramp_seconds(self) -> float:
        return self.users / self.spawn_rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user_class": self.user_class,
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "rate": self.rate,
            "duration": self.duration,
            "warmup": self.warmup,
            "rollout": dict(self.rollout),
            "max_in_flight": self.max_in_flight,
            "timeout": self.timeout,
            "slo_variables": dict(self.slo_variables),
        }


def load_profiles(path: Path) -> dict[str, Profile]:
    """Every profile of a profiles file; SpecError "file:line: field: problem" on the first error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such profiles file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{path}:{line} invalid YAML: {problem}") from None
    return _Reader(path).document(root)


def get_profile(path: Path, name: str) -> Profile:
    profiles = load_profiles(path)
    if name not in profiles:
        raise SpecError(f"{path}: no profile {name!r} (profiles: {', '.join(profiles)})")
    return profiles[name]


class _Reader:
    """Walks the composed YAML so every error carries the line of the offending node."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, where: str, problem: str) -> SpecError:
        line = f"{node.start_mark.line + 1}:" if node is not None else ""
        return SpecError(f"{self.path}:{line} {where}: {problem}")

    def mapping(self, node: yaml.Node | None, where: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, where, "keys must be strings")
            if key.value in out:
                raise self.fail(key, f"{where}.{key.value}", "duplicate key")
            out[key.value] = (key, value)
        return out

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, where, "must be a single value")
        return yaml.safe_load(yaml.serialize(node))

    def number(self, node: yaml.Node, where: str, *, integer: bool = False, minimum: float = 0.0,
               exclusive: bool = True) -> float:
        value = self.scalar(node, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            raise self.fail(node, where, f"must be {'an integer' if integer else 'a number'}")
        if not math.isfinite(value) or value < minimum or (exclusive and value == minimum):
            raise self.fail(node, where, f"must be {'>' if exclusive else '>='} {minimum:g}")
        return float(value)

    def duration(self, node: yaml.Node, where: str, *, allow_zero: bool) -> float:
        value = self.scalar(node, where)
        try:
            seconds = float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
                else parse_duration(str(value))
        except ValueError as exc:
            raise self.fail(node, where, str(exc)) from None
        if seconds < 0 or (seconds == 0 and not allow_zero):
            raise self.fail(node, where, "must be a positive duration such as 30s or 5m")
        return seconds

    def document(self, root: yaml.Node | None) -> dict[str, Profile]:
        top = self.mapping(root, "document")
        for key in top:
            if key not in ("apiVersion", "kind", "profiles"):
                raise self.fail(top[key][0], key, "unknown field (expected apiVersion, kind, profiles)")
        version = self.scalar(top["apiVersion"][1], "apiVersion") if "apiVersion" in top else None
        if version != API_VERSION:
            raise self.fail(top.get("apiVersion", (root, root))[1], "apiVersion", f"must be {API_VERSION}")
        kind = self.scalar(top["kind"][1], "kind") if "kind" in top else None
        if kind != PROFILES_KIND:
            raise self.fail(top.get("kind", (root, root))[1], "kind", f"must be {PROFILES_KIND}")
        if "profiles" not in top:
            raise self.fail(root, "profiles", "missing")
        profiles = self.mapping(top["profiles"][1], "profiles")
        if not profiles:
            raise self.fail(top["profiles"][1], "profiles", "must name at least one profile")
        return {name: self.profile(name, key, value) for name, (key, value) in profiles.items()}

    def profile(self, name: str, key_node: yaml.Node, node: yaml.Node) -> Profile:
        where = f"profiles.{name}"
        fields = self.mapping(node, where)
        for key, (field_node, _) in fields.items():
            if key not in _FIELDS:
                known = ", ".join(sorted(_FIELDS))
                raise self.fail(field_node, f"{where}.{key}", f"unknown field (expected one of {known})")
        for required in ("user_class", "users", "spawn_rate", "rate", "duration"):
            if required not in fields:
                raise self.fail(key_node, f"{where}.{required}", "missing")

        def get(key: str) -> yaml.Node:
            return fields[key][1]

        user_class = self.scalar(get("user_class"), f"{where}.user_class")
        if user_class not in USER_CLASSES:
            raise self.fail(get("user_class"), f"{where}.user_class", f"must be one of {', '.join(USER_CLASSES)}")
        rollout: dict[str, float] = {}
        if "rollout" in fields:
            for flag, (flag_node, value) in self.mapping(get("rollout"), f"{where}.rollout").items():
                if flag not in FEATURE_FLAGS:
                    raise self.fail(flag_node, f"{where}.rollout.{flag}", f"must be one of {', '.join(FEATURE_FLAGS)}")
                pct = self.number(value, f"{where}.rollout.{flag}", minimum=0.0, exclusive=False)
                if pct > 100:
                    raise self.fail(value, f"{where}.rollout.{flag}", "must be a percentage within 0-100")
                rollout[flag] = pct
        description = self.scalar(get("description"), f"{where}.description") if "description" in fields else ""
        slo_variables: dict[str, float] = {}
        if "slo_variables" in fields:
            for var, (_, value) in self.mapping(get("slo_variables"), f"{where}.slo_variables").items():
                slo_variables[var] = self.number(value, f"{where}.slo_variables.{var}", exclusive=False)
        return Profile(
            name=name,
            user_class=user_class,
            users=int(self.number(get("users"), f"{where}.users", integer=True)),
            spawn_rate=self.number(get("spawn_rate"), f"{where}.spawn_rate"),
            rate=self.number(get("rate"), f"{where}.rate"),
            duration=self.duration(get("duration"), f"{where}.duration", allow_zero=False),
            warmup=self.duration(get("warmup"), f"{where}.warmup", allow_zero=True) if "warmup" in fields else 0.0,
            rollout=rollout,
            max_in_flight=int(self.number(get("max_in_flight"), f"{where}.max_in_flight", integer=True))
            if "max_in_flight" in fields else 512,
            timeout=self.duration(get("timeout"), f"{where}.timeout", allow_zero=False) if "timeout" in fields
            else 10.0,
            description=str(description or ""),
            slo_variables=slo_variables,
        )
