"""The one interface to the Rust Rego engine (regorus, from the pinned gordon-to-regorus wheel).

Everything in sloguard that evaluates Rego goes through ``PolicyEngine``: the Rust path of
the reference service and the OPA-compatible policy server, so both answer from the same
engine and the same bundle.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from sloguard import conventions as c
from sloguard.errors import UsageError

# regorus (the Rust policy engine) is imported where a bundle is compiled: it is the demo extra's.

# anyhow (inside regorus) captures a backtrace for every error when RUST_BACKTRACE is set,
# which turns a 4 µs policy error into a 120 µs one; RUST_LIB_BACKTRACE=0 stops that for
# library errors while panics still honour RUST_BACKTRACE. Must be set before the first error.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

BUNDLED_POLICIES = Path(__file__).parent / "policies"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
        return engine

    def add_policy(self, policy_id: str, text: str) -> None:
        """Parse and add (or replace) one policy module; raises UsageError when it does not compile."""
        if policy_id in self.policies:
            self.policies[policy_id] = text
            self._rebuild()
            return
        try:
            self._engine.add_policy(policy_id, text)
        except RuntimeError as exc:
            raise UsageError(f"{policy_id}: {_clean(str(exc))}") from None
        self.policies[policy_id] = text

    def add_data(self, document: Any) -> None:
        """Merge a data document under ``data``."""
        try:
            self._engine.add_data_json(json.dumps(document))
        except RuntimeError as exc:
            raise UsageError(f"policy data: {_clean(str(exc))}") from None
        self.data.append(document)

    def _rebuild(self) -> None:
        """Recreate the engine from the stored modules (regorus cannot remove a module)."""
        engine = self._regorus.Engine()
        for policy_id, text in self.policies.items():
            try:
                engine.add_policy(policy_id, text)
            except RuntimeError as exc:
                raise UsageError(f"{policy_id}: {_clean(str(exc))}") from None
        for document in self.data:
            engine.add_data_json(json.dumps(document))
        self._engine = engine

    def evaluate(self, input_json: str, rule: str | None = None) -> Any:
        """The value of ``rule`` (default: the decision) for a JSON input; None when undefined."""
        rule = rule or self.decision
        try:
            self._engine.set_input_json(input_json)
            return self._engine.eval_rule(rule)
        except RuntimeError as exc:
            message = _clean(str(exc))
            if "not a valid rule path" in message:
                raise PolicyError(c.ERROR_UNDEFINED, f"{rule}: {message}") from None
            raise PolicyError(c.ERROR_POLICY, message) from None

    def query(self, segments: list[str], input_json: str) -> Any:
        """Evaluate any document under data (a rule, a package, data) like OPA's Data API; None = undefined."""
        if segments and all(_IDENTIFIER.match(s) for s in segments):
            try:
                return self.evaluate(input_json, "data." + ".".join(segments))
            except PolicyError as exc:
                if exc.error_type != c.ERROR_UNDEFINED:
                    raise
        # Not a rule (a package or a data document), or a segment like "vault-mcp": a query
        # with bracket references reaches any of them.
        query = "data" + "".join(f"[{json.dumps(s)}]" for s in segments)
        try:
            self._engine.set_input_json(input_json)
            results = self._engine.eval_query(query)
        except RuntimeError as exc:
            raise PolicyError(c.ERROR_POLICY, _clean(str(exc))) from None
        for result in results.get("result", []):
            for expression in result.get("expressions", []):
                return expression.get("value")
        return None
