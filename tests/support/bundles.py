"""The test bundles of tests/data/bundles: each a Rego policy directory and a cases file of expected answers.

A cases file (``cases.yaml``) names the policy directory, the decision paths to run it with,
defaults for the request, and the cases: a request (roles, action, server, tool, params)
and the answer written by hand from the policy (allow; reason, cache_ttl,
filtered_parameters and warning where they matter). A case may name one ``decision``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sloguard.demo.decision import Decision, Identity, PolicyInput, build_input

BUNDLES = Path(__file__).resolve().parents[1] / "data" / "bundles"
_REQUEST_KEYS = {"user", "roles", "tenant", "action", "server", "tool", "params", "decision"}
_ANSWER_KEYS = {"allow", "reason", "cache_ttl", "filtered_parameters", "warning"}
_OBJECT_ONLY = ("reason", "cache_ttl", "filtered_parameters")


@dataclass(frozen=True)
class DecisionPath:
    path: str
    object: bool  # the value is an object, so reason, cache_ttl and filtered_parameters are checked


@dataclass(frozen=True)
class Case:
    number: int
    request: dict[str, Any]
    answer: dict[str, Any]

    def policy_input(self, timestamp: float = 1.0) -> PolicyInput:
        r = self.request
        identity = Identity(r.get("user", "u1"), tuple(r.get("roles", ())), r.get("tenant", "acme"))
        return build_input(identity, r["action"], r.get("server"), r.get("tool"), r.get("params") or {}, {},
                           timestamp)  # fmt: skip

    def applies_to(self, decision: DecisionPath) -> bool:
        return self.request.get("decision", decision.path) == decision.path

    def mismatches(self, decision: DecisionPath, got: Decision) -> list[str]:
        """What differs between the expected answer and a decision (empty when it is right)."""
        expected = dict(self.answer)
        expected.setdefault("warning", "")
        out = []
        for key, want in expected.items():
            if key in _OBJECT_ONLY and not decision.object:
                continue
            have = getattr(got, key)
            if have != want:
                out.append(f"{key}: expected {want!r}, got {have!r}")
        if got.error:
            out.append(f"policy error: {got.reason}")
        return out

    def __str__(self) -> str:
        return f"case {self.number} {self.request}"


@dataclass(frozen=True)
class Suite:
    name: str
    policy: Path
    decisions: tuple[DecisionPath, ...]
    cases: tuple[Case, ...]

    def pairs(self) -> int:
        """How many (case, decision) evaluations the suite makes on each path."""
        return sum(case.applies_to(d) for case in self.cases for d in self.decisions)


def load_suite(directory: Path) -> Suite:
    """Read ``directory/cases.yaml``; raises ValueError on a key it does not know (a typo)."""
    doc = yaml.safe_load((directory / "cases.yaml").read_text())
    decisions = tuple(DecisionPath(d["path"], bool(d["object"])) for d in doc["decisions"])
    defaults = doc.get("defaults", {})
    cases = []
    for number, raw in enumerate(doc["cases"], 1):
        unknown = set(raw) - _REQUEST_KEYS - _ANSWER_KEYS
        if unknown or "allow" not in raw:
            raise ValueError(f"{directory.name} case {number}: unknown keys {sorted(unknown)} or no allow")
        request = {**defaults, **{k: v for k, v in raw.items() if k in _REQUEST_KEYS}}
        cases.append(Case(number, request, {k: v for k, v in raw.items() if k in _ANSWER_KEYS}))
    return Suite(directory.name, directory / doc["policy"], decisions, tuple(cases))


def all_suites() -> list[Suite]:
    return [load_suite(d) for d in sorted(BUNDLES.iterdir()) if (d / "cases.yaml").is_file()]
