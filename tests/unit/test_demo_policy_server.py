"""The OPA-compatible policy server's REST API, in-process (httpx ASGI transport, same thread)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

pytest.importorskip("regorus")
pytest.importorskip("starlette")

import httpx

from sloguard.demo.engine import PolicyEngine
from sloguard.demo.opa_client import data_url_path
from sloguard.demo.policy_server import create_policy_app
from sloguard.demo.ratelog import RateLimitedLog


def call(requests: list[tuple[str, str, Any]], app: Any = None) -> list[httpx.Response]:
    """Send requests to a policy server (default: a fresh one loaded with the bundled policy)."""

    async def main() -> list[httpx.Response]:
        nonlocal app
        app = app or create_policy_app(PolicyEngine.from_directory())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://opa") as client:
            out = []
            for method, path, body in requests:
                content = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
                out.append(await client.request(method, path, content=content))
            return out

    return asyncio.run(main())


ANALYST = {"user": {"id": "a", "roles": ["analyst"], "tenant": "acme"}, "action": "gateway:tool:invoke",
           "server_name": "postgres-mcp", "tool_name": "list_tables", "parameters": {}}  # fmt: skip


def test_data_api_health_and_undefined() -> None:
    decision, allow, undefined, health, package = call([
        ("POST", "/v1/data/sark/gateway/decision", {"input": ANALYST}),
        ("POST", "/v1/data/sark/gateway/allow", {"input": ANALYST}),
        ("POST", "/v1/data/sark/gateway/no_such_rule", {"input": ANALYST}),
        ("GET", "/health", None),
        ("GET", "/v1/data/sark/servers/vault-mcp", None),
    ])  # fmt: skip
    assert decision.status_code == 200
    assert decision.json()["result"]["allow"] is True and decision.json()["result"]["cache_ttl"] == 60
    assert allow.json() == {"result": True}
    assert undefined.status_code == 200 and undefined.json() == {}  # OPA: no "result" when undefined
    assert health.status_code == 200
    assert package.json()["result"]["sensitivity"] == "critical"


def test_put_policy_replaces_and_rejects_bad_rego() -> None:
    good = 'package sark.gateway\n\ndecision := {"allow": false, "reason": "maintenance"}\n'
    bad_put, put, after, listed, bad_body = call([
        ("PUT", "/v1/policies/broken", "package x\nallow { true }\n"),
        ("PUT", "/v1/policies/gateway.rego", good),
        ("POST", "/v1/data/sark/gateway/decision", {"input": ANALYST}),
        ("GET", "/v1/policies", None),
        ("POST", "/v1/data/sark/gateway/decision", "{not json"),
    ])  # fmt: skip
    assert bad_put.status_code == 400 and bad_put.json()["code"] == "invalid_parameter"
    assert put.status_code == 200
    assert after.json()["result"] == {"allow": False, "reason": "maintenance"}
    assert {p["id"] for p in listed.json()["result"]} == {"gateway.rego"}
    assert bad_body.status_code == 400


def test_runtime_errors_are_opa_internal_errors() -> None:
    crash = "package crash\n\nv := 1 / count(input.xs)\n"
    _, response = call([("PUT", "/v1/policies/crash", crash), ("POST", "/v1/data/crash/v", {"input": {"xs": []}})])
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error" and "divide by zero" in response.json()["message"]


def test_decision_paths_map_to_data_urls() -> None:
    assert data_url_path("data.sark.gateway.decision") == "/v1/data/sark/gateway/decision"
    assert data_url_path("sark/gateway/allow") == "/v1/data/sark/gateway/allow"


def test_replacing_a_module_with_bad_rego_keeps_the_one_that_runs() -> None:
    """The bad text used to be stored although the engine kept the old module (issue 12)."""
    bad, listed, decision = call([
        ("PUT", "/v1/policies/gateway.rego", "package sark.gateway\nallow { true }\n"),
        ("GET", "/v1/policies", None),
        ("POST", "/v1/data/sark/gateway/decision", {"input": ANALYST}),
    ])  # fmt: skip
    assert bad.status_code == 400
    raw = {p["id"]: p["raw"] for p in listed.json()["result"]}
    assert "allow { true }" not in raw["gateway.rego"] and "package sark.gateway" in raw["gateway.rego"]
    assert decision.json()["result"]["allow"] is True


SEMANTICS = """package t.gw

import rego.v1

default allow := false

allow if "admin" in input.roles

deny contains "no roles" if count(input.roles) == 0

deny contains "banned" if input.banned

nothing if input.never

nul := null

has_input if input

double(x) := 2 * x
"""


def semantics_app(log: Any = None) -> Any:
    engine = PolicyEngine("data.t.gw")
    engine.add_policy("t.rego", SEMANTICS)
    engine.add_data({"t": {"limits": {"max": 5}}, "servers": {"vault-mcp": {"sensitivity": "critical"}}})
    return create_policy_app(engine, log)


def test_documents_are_what_opa_returns() -> None:
    """A package is the object of its rules (sets as sorted arrays, undefined rules and functions absent)."""
    bodies = [r.json() for r in call([
        ("POST", "/v1/data/t/gw", {"input": {"roles": [], "banned": True}}),
        ("POST", "/v1/data/t/gw/deny", {"input": {"roles": [], "banned": True}}),
        ("POST", "/v1/data/t/gw/allow", {"input": {"roles": ["admin"]}}),
        ("POST", "/v1/data/t/gw/nothing", {"input": {"roles": []}}),
        ("POST", "/v1/data/t/gw/nul", {"input": {}}),
        ("POST", "/v1/data/t", {"input": {"roles": ["admin"]}}),
        ("GET", "/v1/data/servers/vault-mcp", None),
        ("GET", "/v1/data/no/such/package", None),
    ], semantics_app())]  # fmt: skip
    package = {"allow": False, "deny": ["banned", "no roles"], "has_input": True, "nul": None}
    assert bodies[0] == {"result": package}
    assert bodies[1] == {"result": ["banned", "no roles"]}
    assert bodies[2] == {"result": True}
    assert bodies[3] == {}  # undefined: no "result"
    assert bodies[4] == {"result": None}  # null is a value
    assert bodies[5] == {"result": {"gw": {"allow": True, "deny": [], "has_input": True, "nul": None},
                                    "limits": {"max": 5}}}  # fmt: skip
    assert bodies[6] == {"result": {"sensitivity": "critical"}}
    assert bodies[7] == {}


def test_a_post_without_input_evaluates_with_input_undefined_and_warns() -> None:
    no_key, null, empty, with_input, get = call([
        ("POST", "/v1/data/t/gw/has_input", {}),
        ("POST", "/v1/data/t/gw/has_input", {"input": None}),
        ("POST", "/v1/data/t/gw/has_input", ""),
        ("POST", "/v1/data/t/gw/has_input", {"input": {}}),
        ("GET", "/v1/data/t/gw/has_input", None),
    ], semantics_app())  # fmt: skip
    warning = {"code": "api_usage_warning", "message": "'input' key missing from the request"}
    assert no_key.json() == null.json() == empty.json() == {"warning": warning}
    assert with_input.json() == {"result": True}
    assert get.json() == {}


def test_bad_bodies_are_400_and_errors_are_500_json_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    app = semantics_app(RateLimitedLog(interval=10, clock=lambda: clock[0]))
    app.state.engine.add_policy("crash.rego", "package crash\n\nv := 1 / count(input.xs)\n")
    original = app.state.engine.query

    def broken(segments: list[str], input_json: str | None) -> Any:
        if segments == ["boom"]:
            raise ValueError("unexpected")
        return original(segments, input_json)

    app.state.engine.query = broken
    with caplog.at_level(logging.WARNING, logger="sloguard.demo"):
        responses = call([
            ("POST", "/v1/data/t/gw", "[1, 2]"),
            ("POST", "/v1/data/t/gw", "{not json"),
            *[("POST", "/v1/data/crash/v", {"input": {"xs": []}})] * 5,
            ("POST", "/v1/data/boom", {"input": {}}),
        ], app)  # fmt: skip
    array, garbled, *crashes, boom = responses
    assert array.status_code == garbled.status_code == 400
    assert array.json()["code"] == garbled.json()["code"] == "invalid_parameter"
    for crash in crashes:
        assert crash.status_code == 500
        assert crash.json()["code"] == "internal_error" and "divide by zero" in crash.json()["message"]
    assert boom.status_code == 500 and boom.json() == {"code": "internal_error", "message": "ValueError: unexpected"}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines  # one per kind, not one per request
    assert "divide by zero" in lines[0] and "unexpected" in lines[1]
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
