"""The one interface to the Rust Rego engine (regorus, from the pinned gordon-to-regorus wheel).

Everything in sloguard that evaluates Rego goes through ``PolicyEngine``: the Rust path of
the reference service and the OPA-compatible policy server, so both answer from the same
engine and the same bundle. Values come back as OPA's Data API gives them: JSON values, sets
as sorted arrays, functions and undefined rules absent, and ``UNDEFINED`` for a document with
no value (OPA's answer without "result").
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sloguard import conventions as c
from sloguard.errors import UsageError

# regorus (the Rust policy engine) is imported where a bundle is compiled: it is the demo extra's.

# anyhow (inside regorus) captures a backtrace for every error when RUST_BACKTRACE is set,
# which turns a 4 µs policy error into a 120 µs one; RUST_LIB_BACKTRACE=0 stops that for
# library errors while panics still honour RUST_BACKTRACE. Must be set before the first error.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

BUNDLED_POLICIES = Path(__file__).parent / "policies"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_A_RULE = "not a valid rule path"
# What regorus's *_as_json rule evaluation prints for an undefined rule (a JSON string).
_UNDEFINED_JSON = '"<undefined>"'
# Paths the policy server has classified, kept per bundle version; past this many a path is
# classified per request instead, so that a client naming endless paths cannot grow memory.
_MAX_CLASSIFIED = 1024


class _Undefined:
    """The value of a document that is undefined (OPA omits "result"); compare with ``is``."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class PolicyError(Exception):
    """Evaluating the decision failed; the caller denies (fail closed)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _clean(message: str) -> str:
    """The engine's error as one line, "divide by zero (at p.rego:2:9)", without any Rust backtrace."""
    text = message.split("\nStack backtrace:", 1)[0].strip()
    lines = [line.strip() for line in text.splitlines()]
    where = next((line[3:].strip() for line in lines if line.startswith("-->")), "")
    what = next((line[6:].strip() for line in reversed(lines) if line.startswith("error:")), "")
    if what:
        return f"{what} (at {where})" if where else what
    return " ".join(line for line in lines if line)


def decision_rule(decision: str) -> str:
    """Normalise a decision path: ``data.sark.gateway.decision`` or ``sark/gateway/decision``."""
    path = decision.strip().strip("/").replace("/", ".")
    if not path.startswith("data.") and path != "data":
        path = "data." + path
    if not path or any(not part for part in path.split(".")):
        raise UsageError(f"invalid decision path {decision!r} (expected e.g. {c.DEMO_DEFAULT_DECISION})")
    return path


def path_segments(path: str) -> list[str]:
    """``data.a.b`` -> ``["a", "b"]`` (``data`` alone -> ``[]``)."""
    return [s for s in decision_rule(path).split(".")[1:] if s]


@dataclass(frozen=True)
class Target:
    """How one document path is evaluated, decided once per bundle version.

    A rule (a complete or partial rule, a function) is read with regorus's rule evaluation,
    the cheap call; anything else (a package, a prefix of packages, a data document, a path
    with no value) is read with a query, which merges rules and data as OPA does.
    """

    path: str  # data.a.b, as a person writes it
    rule: bool
    text: str  # what regorus evaluates: the rule path, or a query with bracket references

    @property
    def kind(self) -> str:
        return "rule" if self.rule else "document"


class PolicyEngine:
    """Rego policies + data in an in-process regorus engine, evaluated one input at a time.

    A regorus engine is bound to the thread that created it (pyo3 ``unsendable``): the
    service creates it on the event-loop thread and evaluates there; a multi-threaded
    caller needs one PolicyEngine per thread.
    """

    def __init__(self, decision: str = c.DEMO_DEFAULT_DECISION) -> None:
        import regorus

        self._regorus = regorus
        self.decision = decision_rule(decision)
        self.policies: dict[str, str] = {}
        self.data: list[Any] = []
        self._engine = regorus.Engine()
        self._bare: Any = None  # a copy that never saw an input: "no input" is undefined, not null
        self._targets: dict[tuple[str, ...], Target] = {}
        self._decision: Target | None = None

    @classmethod
    def from_directory(
        cls, directory: str | Path | None = None, decision: str = c.DEMO_DEFAULT_DECISION
    ) -> PolicyEngine:
        """Load every *.rego and *.json (data) file of a bundle directory (recursively)."""
        root = Path(directory) if directory else BUNDLED_POLICIES
        if not root.is_dir():
            raise UsageError(f"{root}: policies directory not found")
        engine = cls(decision)
        rego_files = sorted(p for p in root.rglob("*.rego") if not p.name.endswith("_test.rego"))
        if not rego_files:
            raise UsageError(f"{root}: no .rego files")
        for path in rego_files:
            engine.add_policy(str(path.relative_to(root)), path.read_text(encoding="utf-8"))
        for path in sorted(root.rglob("*.json")):
            try:
                engine.add_data(json.loads(path.read_text(encoding="utf-8")))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{exc.lineno}: invalid JSON data: {exc.msg}") from None
        engine.decision_target()  # classify the decision path at load, not on the first request
        return engine

    # -- loading ------------------------------------------------------------------------------

    def add_policy(self, policy_id: str, text: str) -> None:
        """Parse and add (or replace) one policy module; raises UsageError when it does not compile."""
        if policy_id in self.policies:
            # regorus cannot remove a module: build a new engine, and keep the old one if it fails.
            policies = {**self.policies, policy_id: text}
            self._engine = self._build(policies, self.data)
            self.policies = policies
        else:
            try:
                self._engine.add_policy(policy_id, text)
            except RuntimeError as exc:
                raise UsageError(f"{policy_id}: {_clean(str(exc))}") from None
            self.policies[policy_id] = text
        self._changed()

    def add_data(self, document: Any) -> None:
        """Merge a data document under ``data``."""
        try:
            self._engine.add_data_json(json.dumps(document))
        except RuntimeError as exc:
            raise UsageError(f"policy data: {_clean(str(exc))}") from None
        self.data.append(document)
        self._changed()

    def _build(self, policies: dict[str, str], data: list[Any]) -> Any:
        """A new regorus engine with these modules and data; raises UsageError."""
        engine = self._regorus.Engine()
        for policy_id, text in policies.items():
            try:
                engine.add_policy(policy_id, text)
            except RuntimeError as exc:
                raise UsageError(f"{policy_id}: {_clean(str(exc))}") from None
        for document in data:
            engine.add_data_json(json.dumps(document))
        return engine

    def _changed(self) -> None:
        """The bundle changed: paths are classified again, and the input-less copy is made again."""
        self._bare = None
        self._targets.clear()
        if self._decision is not None:
            self._decision = None
            self.decision_target()

    def _input_less(self) -> Any:
        if self._bare is None:
            self._bare = self._engine.clone()
        return self._bare

    # -- classification -----------------------------------------------------------------------

    def target(self, segments: list[str] | tuple[str, ...]) -> Target:
        """How the document at ``data.<segments>`` is evaluated (classified once per bundle version)."""
        key = tuple(segments)
        found = self._targets.get(key)
        if found is None:
            found = self._classify(key)
            if len(self._targets) < _MAX_CLASSIFIED:
                self._targets[key] = found
        return found

    def decision_target(self) -> Target:
        """The decision path's Target."""
        if self._decision is None:
            self._decision = self.target(path_segments(self.decision))
        return self._decision

    def _classify(self, segments: tuple[str, ...]) -> Target:
        path = ".".join(("data", *segments))
        if segments and all(_IDENTIFIER.match(s) for s in segments):
            # regorus answers "not a valid rule path" for anything that is not a rule, before it
            # evaluates; any other outcome (a value, undefined, an evaluation error) is a rule.
            try:
                self._input_less().eval_rule_as_json(path)
            except RuntimeError as exc:
                if _NOT_A_RULE not in str(exc):
                    return Target(path, True, path)
            else:
                return Target(path, True, path)
        # A package, a data document, a path with no value, or a segment such as "vault-mcp":
        # a query with bracket references reaches all of them.
        return Target(path, False, "data" + "".join(f"[{json.dumps(s)}]" for s in segments))

    # -- evaluation ---------------------------------------------------------------------------

    def evaluate(self, input_json: str | None) -> Any:
        """The decision's value for a JSON input (None: no input), as OPA returns it; UNDEFINED when undefined."""
        return self._run(self.decision_target(), input_json)

    def query(self, segments: list[str], input_json: str | None) -> Any:
        """Any document under data (a rule, a package, data) like OPA's Data API; UNDEFINED when undefined."""
        return self._run(self.target(segments), input_json)

    def _run(self, target: Target, input_json: str | None) -> Any:
        """Raises PolicyError(policy_error) with the engine's message on one line."""
        try:
            if input_json is None:
                engine = self._input_less()
            else:
                engine = self._engine
                engine.set_input_json(input_json)
            if target.rule:
                text = engine.eval_rule_as_json(target.text)
                if text == _UNDEFINED_JSON and engine.eval_rule(target.text) is None:
                    return UNDEFINED  # not a rule whose value is the string "<undefined>"
                return json.loads(text)
            results = json.loads(engine.eval_query_as_json(target.text)).get("result", [])
        except RuntimeError as exc:
            raise PolicyError(c.ERROR_POLICY, _clean(str(exc))) from None
        for result in results:
            for expression in result.get("expressions", []):
                return expression.get("value")
        return UNDEFINED
