"""OPA's Data API semantics in the engine, the decision mapping, and the rate-limited log (issue 12)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("regorus")

from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.demo.cache import RustCache
from sloguard.demo.decision import (
    NO_ALLOW_REASON,
    UNDEFINED_REASON,
    WARNING_NO_ALLOW,
    WARNING_UNDEFINED,
    Decision,
    Identity,
    parse_decision,
)
from sloguard.demo.engine import UNDEFINED, PolicyEngine, PolicyError
from sloguard.demo.faults import Faults
from sloguard.demo.gateway import Gateway
from sloguard.demo.ratelog import RateLimitedLog
from sloguard.demo.routing import Router
from sloguard.instrument import Instrumentation

POLICY = """package t.gw

import future.keywords.contains
import future.keywords.if
import future.keywords.in

default allow := false

allow if "admin" in input.roles

deny contains "no roles" if count(input.roles) == 0

deny contains "banned" if input.banned

# A set of objects: Python cannot hold it as a set, JSON can.
grants contains {"role": role} if {
	some role in input.roles
}

nested := {"messages": {"b", "a"}, "n": 1}

nothing if input.never

nul := null

odd := "<undefined>"

has_input if input

double(x) := 2 * x

r.s.t := 3
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "t.rego").write_text(POLICY)
    (tmp_path / "data.json").write_text(json.dumps({"t": {"gw": {"limit": 5}}, "srv": {"vault-mcp": {"s": "high"}}}))
    return tmp_path


def values(engine: PolicyEngine, document: dict[str, Any]) -> dict[str, Any]:
    return {p: engine.query(p.split("."), json.dumps(document)) for p in (
        "t.gw", "t.gw.allow", "t.gw.deny", "t.gw.grants", "t.gw.nested", "t.gw.nothing", "t.gw.nul", "t.gw.odd",
        "t.gw.double", "t.gw.r", "t.gw.limit", "srv.vault-mcp", "nope")}  # fmt: skip


def test_values_are_what_opas_data_api_returns(bundle: Path) -> None:
    got = values(PolicyEngine.from_directory(bundle, "data.t.gw"), {"roles": ["dev", "admin"], "banned": True})
    grants = [{"role": "admin"}, {"role": "dev"}]
    # "nothing" (undefined) and "double" (a function) are absent; the data document is merged in.
    assert got["t.gw"] == {
        "allow": True, "deny": ["banned"], "grants": grants, "nested": {"messages": ["a", "b"], "n": 1},
        "nul": None, "odd": "<undefined>", "has_input": True, "r": {"s": {"t": 3}}, "limit": 5,
    }  # fmt: skip
    assert got["t.gw.deny"] == ["banned"] and got["t.gw.grants"] == grants
    assert got["t.gw.nested"] == {"messages": ["a", "b"], "n": 1}
    assert got["t.gw.nothing"] is UNDEFINED and got["t.gw.double"] is UNDEFINED and got["nope"] is UNDEFINED
    assert got["t.gw.nul"] is None and got["t.gw.odd"] == "<undefined>"
    assert got["t.gw.r"] == {"s": {"t": 3}} and got["t.gw.limit"] == 5 and got["srv.vault-mcp"] == {"s": "high"}
    assert got["t.gw.allow"] is True


def test_no_input_is_undefined_input(bundle: Path) -> None:
    engine = PolicyEngine.from_directory(bundle, "data.t.gw.has_input")
    assert engine.evaluate(json.dumps({"roles": []})) is True
    assert engine.evaluate(None) is UNDEFINED  # even after an input was set
    assert engine.query(["t", "gw", "deny"], None) == []


class Recorder:
    """Stands in for the regorus engine and records which calls evaluation makes."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.calls = engine, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.engine, name)


@pytest.mark.parametrize(
    ("decision", "kind", "call"),
    [("data.t.gw", "document", "eval_query_as_json"), ("data.t.gw.allow", "rule", "eval_rule_as_json"),
     ("t/gw/deny", "rule", "eval_rule_as_json"), ("data.t.gw.r", "document", "eval_query_as_json"),
     ("data.srv.vault-mcp", "document", "eval_query_as_json"), ("data.nope", "document", "eval_query_as_json")],
)  # fmt: skip
def test_the_decision_path_is_classified_once_at_load(bundle: Path, decision: str, kind: str, call: str) -> None:
    engine = PolicyEngine.from_directory(bundle, decision)
    assert engine.decision_target().kind == kind
    recorder = Recorder(engine._engine)
    engine._engine = recorder
    for _ in range(3):
        engine.evaluate('{"roles": ["admin"]}')
    assert recorder.calls == ["set_input_json", call] * 3  # no trial call, no exception per request


def test_a_new_module_reclassifies_the_decision(tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text("package a\n\nx := 1\n")
    engine = PolicyEngine.from_directory(tmp_path, "data.b.allow")
    assert engine.decision_target().kind == "document" and engine.evaluate("{}") is UNDEFINED
    engine.add_policy("b.rego", "package b\n\nallow := true\n")
    assert engine.decision_target().kind == "rule" and engine.evaluate("{}") is True


def test_a_conflict_fails_the_package_but_not_the_other_rule(tmp_path: Path) -> None:
    (tmp_path / "c.rego").write_text(
        'package c\n\nimport rego.v1\n\nallow := true\n\nreason := "a" if input.a\n\nreason := "b" if input.b\n'
    )
    engine = PolicyEngine.from_directory(tmp_path, "data.c")
    with pytest.raises(PolicyError) as raised:
        engine.evaluate('{"a": true, "b": true}')
    assert raised.value.error_type == c.ERROR_POLICY and "conflict" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert engine.query(["c", "allow"], '{"a": true, "b": true}') is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, Decision(True)),
        (False, Decision(False)),
        ({"allow": True}, Decision(True)),
        ({"allow": True, "reason": "ok", "filtered_parameters": {"q": 1}, "cache_ttl": 60},
         Decision(True, "ok", {"q": 1}, 60)),
        ({"allow": False, "reason": ["b msg", "a msg"]}, Decision(False, "a msg; b msg")),
        ({"allow": False, "reason": []}, Decision(False, "")),
        ({"allow": True, "cache_ttl": 1.5}, Decision(True, cache_ttl=1)),
        # deny does not override allow: OPA's and SARK's answer is the value of allow
        ({"allow": True, "deny": ["banned"], "reason": "granted"}, Decision(True, "granted")),
        ({"deny": ["banned"], "reason": "x"}, Decision(False, NO_ALLOW_REASON, warning=WARNING_NO_ALLOW)),
        ({}, Decision(False, NO_ALLOW_REASON, warning=WARNING_NO_ALLOW)),
        (UNDEFINED, Decision(False, UNDEFINED_REASON, warning=WARNING_UNDEFINED)),
    ],
)  # fmt: skip
def test_the_decision_mapping(value: Any, expected: Decision) -> None:
    decision = parse_decision(value)
    assert decision == expected
    assert decision.label == ("allow" if expected.allow else "deny") and not decision.error


def test_the_cached_form_reads_back_without_the_warning() -> None:
    decision = Decision(True, "a; b", {"k": [1]}, 30)
    assert Decision.from_json(decision.to_json()) == decision


def test_the_log_writes_one_line_per_kind_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    log = RateLimitedLog(interval=10, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="sloguard.demo"):
        assert log.log("rust path: policy error (policy_error)", "divide by zero")
        for _ in range(4):
            now[0] += 1
            assert not log.log("rust path: policy error (policy_error)", "divide by zero")
        assert log.warning("python path: undefined decision", "denied")  # another kind is not held back
        assert log.held("rust path: policy error (policy_error)") == 4
        now[0] = 111.0
        assert log.log("rust path: policy error (policy_error)", "divide by zero")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (logging.ERROR, "sloguard: rust path: policy error (policy_error): divide by zero"),
        (logging.WARNING, "sloguard: python path: undefined decision: denied"),
        (logging.ERROR, "sloguard: rust path: policy error (policy_error): divide by zero "
                        "(4 more of this kind in the last 11 s were not logged)"),
    ]  # fmt: skip
    assert log.held("rust path: policy error (policy_error)") == 0


def test_the_gateway_denies_undecided_and_failed_decisions_and_logs_each_kind_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Undefined: a plain deny, no error counted; a crash: decision="error", counted; each kind logged once."""
    (tmp_path / "p.rego").write_text(
        "package g\n\nimport rego.v1\n\n"
        'decision := {"allow": true, "cache_ttl": 60 / count(input.parameters)} if {\n'
        '\tinput.action == "gateway:tool:invoke"\n}\n'
    )
    gateway = Gateway(
        PolicyEngine.from_directory(tmp_path, "data.g.decision"), None, RustCache(), None,
        Router(100, 100, rust_enabled=True), Faults(), Instrumentation("fast", process_metrics=False),
    )  # fmt: skip
    admin = Identity("u", ("admin",), "acme")

    async def main() -> list[Any]:
        outcomes = []
        for i in range(10):
            outcomes.append(await gateway.authorize(admin, "gateway:server:list", None, None, {"i": i}, {}))
            outcomes.append(await gateway.authorize(admin, "gateway:tool:invoke", "s", "t", {}, {}))
        return outcomes

    with caplog.at_level(logging.WARNING, logger="sloguard.demo"):
        outcomes = asyncio.run(main())
    undefined, crashed = outcomes[0::2], outcomes[1::2]
    assert {(o.decision.label, o.decision.reason, o.cache) for o in undefined} == {("deny", UNDEFINED_REASON, "bypass")}
    assert {o.decision.label for o in crashed} == {"error"}
    text = gateway.inst.exposition().decode()
    errors = {(s.labels["error_type"], s.value) for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == c.OPA_ERRORS and s.value}  # fmt: skip
    assert errors == {(c.ERROR_POLICY, 10.0)}
    levels = [(r.levelno, r.getMessage().split(":")[1].strip()) for r in caplog.records]
    assert levels == [(logging.WARNING, "rust path"), (logging.ERROR, "rust path")]
    assert "undefined decision" in caplog.records[0].getMessage()
    assert "divide by zero" in caplog.records[1].getMessage() and not caplog.records[1].exc_info
