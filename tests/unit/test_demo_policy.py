"""The bundled SARK gateway policy on the Rust engine, against an independent Python oracle."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("regorus")

from sloguard import conventions as c
from sloguard.demo.corpus import generate
from sloguard.demo.decision import Identity, build_input, parse_decision
from sloguard.demo.engine import BUNDLED_POLICIES, UNDEFINED, PolicyEngine, PolicyError
from sloguard.errors import UsageError

SERVERS = json.loads((BUNDLED_POLICIES / "data.json").read_text())["sark"]["servers"]
TTL = {"critical": 0, "high": 60, "medium": 300, "low": 1800}
SECRET_KEYS = {"password", "secret", "token", "api_key", "credentials"}


def oracle(identity: Identity, body: dict[str, Any]) -> tuple[bool, int, dict[str, Any]]:
    """The rules of issue 3, written independently of the Rego: (allow, cache_ttl, filtered_parameters)."""
    action, server, tool = body["action"], body.get("server_name"), body.get("tool_name")
    params = body.get("parameters") or {}
    roles = set(identity.roles)
    srv = SERVERS.get(server) if server else None
    own = srv is not None and srv["tenant"] == identity.tenant
    destructive = any(
        isinstance(params.get(k), str) and re.search(r"\b(DROP|DELETE|TRUNCATE)\b", params[k], re.I)
        for k in ("query", "sql", "statement")
    )
    query = params.get("query")
    read_only = (
        isinstance(query, str)
        and re.match(r"\s*SELECT\b", query, re.I) is not None
        and not re.search(r"\b(INSERT|UPDATE|DELETE|DROP|TRUNCATE|ALTER|CREATE|GRANT|REVOKE|MERGE)\b", query, re.I)
    )
    invoke = action == "gateway:tool:invoke"
    postgres = invoke and own and server == "postgres-mcp"
    granted = (
        (invoke and "admin" in roles and own)
        or (postgres and "analyst" in roles and tool == "execute_query" and read_only)
        or (postgres and "analyst" in roles and tool in ("list_tables", "describe_table"))
        or (invoke and "developer" in roles and own and server == "github-mcp"
            and tool in ("get_file", "list_issues", "create_issue"))
        or (action == "gateway:server:list" and bool(roles))
        or (action in ("gateway:server:info", "gateway:tool:discover") and bool(roles) and own)
    )  # fmt: skip
    denied = destructive or (srv is not None and not own) or (action != "gateway:server:list" and srv is None)
    allow = bool(granted) and not denied
    default_sensitivity = "medium" if action == "gateway:server:list" else "high"
    sensitivity = srv["sensitivity"] if srv is not None else default_sensitivity
    filtered = {k: v for k, v in params.items() if k.lower() not in SECRET_KEYS} if allow else {}
    return allow, TTL[sensitivity], filtered


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_directory()


def decide(engine: PolicyEngine, identity: Identity, body: dict[str, Any]) -> Any:
    pin = build_input(
        identity, body["action"], body.get("server_name"), body.get("tool_name"),
        body.get("parameters") or {}, body.get("gateway_metadata") or {}, 1.0,
    )  # fmt: skip
    return parse_decision(engine.evaluate(pin.json))


def invoke(roles: tuple[str, ...], server: str, tool: str, tenant: str = "acme", **params: Any) -> tuple[Any, ...]:
    identity = Identity("u1", roles, tenant)
    body = {"action": "gateway:tool:invoke", "server_name": server, "tool_name": tool, "parameters": params}
    return identity, body


@pytest.mark.parametrize(
    ("case", "allow", "reason_part"),
    [
        (invoke(("admin",), "vault-mcp", "rotate_secret"), True, "admin"),
        (invoke(("admin",), "crm-mcp", "refund"), False, "another tenant"),
        (invoke(("analyst",), "postgres-mcp", "execute_query", query="SELECT * FROM t"), True, "read-only"),
        (invoke(("analyst",), "postgres-mcp", "execute_query", query="UPDATE t SET a=1"), False, "default deny"),
        (invoke(("analyst",), "postgres-mcp", "describe_table", table="t"), True, "describe"),
        (invoke(("analyst",), "github-mcp", "get_file"), False, "default deny"),
        (invoke(("developer",), "github-mcp", "create_issue", title="x"), True, "developer"),
        (invoke(("developer",), "github-mcp", "close_issue"), False, "default deny"),
        (invoke(("admin",), "postgres-mcp", "execute_query", query="drop table users"), False, "destructive"),
        (invoke(("admin",), "postgres-mcp", "execute_query", query="TRUNCATE t"), False, "destructive"),
        (invoke(("admin",), "postgres-mcp", "execute_query", sql="DELETE FROM t"), False, "destructive"),
        (invoke(("analyst",), "postgres-mcp", "execute_query", "globex", query="SELECT 1"), False, "another tenant"),
        (invoke(("admin",), "nowhere-mcp", "x"), False, "unknown server"),
        (invoke((), "docs-mcp", "get_page"), False, "default deny"),
    ],
)
def test_each_rule(engine: PolicyEngine, case: tuple[Any, ...], allow: bool, reason_part: str) -> None:
    decision = decide(engine, *case)
    assert decision.allow is allow
    assert reason_part in decision.reason
    assert decision.allow == oracle(*case)[0]


def test_cache_ttl_by_sensitivity(engine: PolicyEngine) -> None:
    ttl = {
        s: decide(engine, *invoke(("admin",), s, "x")).cache_ttl
        for s in ("vault-mcp", "postgres-mcp", "github-mcp", "docs-mcp")
    }
    assert ttl == {"vault-mcp": 0, "postgres-mcp": 60, "github-mcp": 300, "docs-mcp": 1800}


def test_secrets_are_filtered_from_allowed_parameters(engine: PolicyEngine) -> None:
    decision = decide(engine, *invoke(("admin",), "docs-mcp", "get_page", page="a", password="p", API_KEY="k"))
    assert decision.allow and decision.filtered_parameters == {"page": "a"}


def test_corpus_matches_the_oracle_and_covers_every_rule(engine: PolicyEngine) -> None:
    corpus = generate(240)
    reasons: set[str] = set()
    for request in corpus:
        decision = decide(engine, request.identity, request.body)
        allow, ttl, filtered = oracle(request.identity, request.body)
        assert (decision.allow, decision.cache_ttl, decision.filtered_parameters) == (allow, ttl, filtered), request
        reasons.update(decision.reason.split("; "))
    rules = {
        "admin may invoke any tool of its tenant", "analyst may run read-only SQL",
        "analyst may list and describe tables", "developer may read files and create issues",
        "any member may list servers", "members may inspect servers of their tenant",
        "destructive SQL is denied for everyone", "server belongs to another tenant", "unknown server",
        "default deny: no rule grants this request",
    }  # fmt: skip
    assert rules <= reasons
    assert {0, 60, 300, 1800} <= {decide(engine, r.identity, r.body).cache_ttl for r in corpus}


def test_policy_runtime_error_raises_and_undefined_decision_denies(tmp_path: Any) -> None:
    (tmp_path / "p.rego").write_text(
        "package broken\n"
        'decision := {"allow": 1 / count(input.user.roles) > 0} if input.action != "gateway:server:list"\n'
    )
    engine = PolicyEngine.from_directory(tmp_path, "data.broken.decision")
    ok = build_input(Identity("u", ("a",), "t"), "gateway:tool:invoke", "s", "x", {}, {}, 1.0)
    assert parse_decision(engine.evaluate(ok.json)).allow is True
    crash = build_input(Identity("u", (), "t"), "gateway:tool:invoke", "s", "x", {}, {}, 1.0)
    with pytest.raises(PolicyError) as raised:
        engine.evaluate(crash.json)
    assert raised.value.error_type == c.ERROR_POLICY and "divide by zero" in str(raised.value)
    assert "Stack backtrace" not in str(raised.value)
    # Issue 12: an undefined decision is a plain deny (OPA answers no "result"), not an error.
    undefined = build_input(Identity("u", ("a",), "t"), "gateway:server:list", None, None, {}, {}, 1.0)
    assert engine.evaluate(undefined.json) is UNDEFINED
    decision = parse_decision(engine.evaluate(undefined.json))
    assert (decision.allow, decision.error, decision.label) == (False, False, "deny")
    assert "undefined" in decision.reason


@pytest.mark.parametrize(
    "document",
    # Issue 12: a bare boolean is a decision, and undefined or a missing allow is a plain deny;
    # every other shape stays an invalid decision.
    [{"allow": "yes"}, {"allow": True, "cache_ttl": -1}, 3, "allow", None, [True], {"allow": None},
     {"allow": True, "reason": 5}, {"allow": True, "reason": ["a", 1]}, {"allow": True, "filtered_parameters": []}],
)  # fmt: skip
def test_malformed_decisions_are_errors(document: Any) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_decision(document)
    assert raised.value.error_type == c.ERROR_INVALID


def test_bad_bundles_are_usage_errors(tmp_path: Any) -> None:
    with pytest.raises(UsageError, match=r"no \.rego"):
        PolicyEngine.from_directory(tmp_path)
    (tmp_path / "bad.rego").write_text("package x\nallow { true }\n")
    with pytest.raises(UsageError, match=r"bad\.rego"):
        PolicyEngine.from_directory(tmp_path)
    with pytest.raises(UsageError, match="not found"):
        PolicyEngine.from_directory(tmp_path / "missing")
