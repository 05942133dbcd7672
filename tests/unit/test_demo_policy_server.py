"""The OPA-compatible policy server's REST API, in-process (httpx ASGI transport, same thread)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("regorus")
pytest.importorskip("starlette")

import httpx

from sloguard.demo.engine import PolicyEngine
from sloguard.demo.opa_client import data_url_path
from sloguard.demo.policy_server import create_policy_app


def call(requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Send requests to a fresh policy server loaded with the bundled policy."""

    async def main() -> list[httpx.Response]:
        app = create_policy_app(PolicyEngine.from_directory())
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
