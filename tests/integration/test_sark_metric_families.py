"""SARK's gateway and policy metric families on a real reference service (redis-server, policy server, service).

After traffic on both decision paths, /metrics must expose every family SARK's dashboards and rules query,
with SARK's types and label names, numbers that agree with sloguard's own contract, and promtool's blessing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.demo.tokens import issue_token
from sloguard.metric_families import policy_name
from tests.support.clirun import sloguard_executable
from tests.support.processes import ProcessGroup, free_port
from tests.support.sarkfamilies import SARK_FAMILIES

pytestmark = pytest.mark.integration

SECRET = "integration-secret-0123456789abcdef"
ADMIN = "integration-admin-token"

# SARK's own bucket boundaries of its latency histograms (gateway_metrics.py, monitoring/gateway/metrics.py).
SARK_BUCKETS = {
    c.SARK_GATEWAY_AUTHZ_LATENCY: {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0},
    c.SARK_GATEWAY_REQUEST_DURATION: {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0},
    c.SARK_POLICY_DURATION: {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0},
}

ADMIN_ACME = ("root", ["admin"], "acme")
ANALYST = ("ana", ["analyst"], "acme")
INVOKE = "gateway:tool:invoke"
REQUESTS: list[tuple[tuple[str, list[str], str], dict[str, Any]]] = [
    (ADMIN_ACME, {"action": INVOKE, "server_name": "docs-mcp", "tool_name": "get_page"}),  # allow, cached
    (ANALYST, {"action": INVOKE, "server_name": "postgres-mcp", "tool_name": "execute_query",
               "parameters": {"query": "DROP TABLE users"}}),  # deny, cached
    (ADMIN_ACME, {"action": INVOKE, "server_name": "vault-mcp", "tool_name": "read_secret"}),  # critical: bypass
    (ANALYST, {"action": "gateway:server:list"}),  # no server
]  # fmt: skip


class Service:
    """The reference service and how to talk to it."""

    def __init__(self, client: httpx.Client, port: int) -> None:
        self.client = client
        self.url = f"http://127.0.0.1:{port}"

    def authorize(self, identity: tuple[str, list[str], str], body: dict[str, Any], token: str | None = None
                  ) -> httpx.Response:  # fmt: skip
        token = token or issue_token(identity[0], identity[1], identity[2], secret=SECRET)
        return self.client.post(f"{self.url}{c.AUTHORIZE_PATH}", json=body,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def admin(self, method: str, path: str, body: Any = None) -> None:
        response = self.client.request(method, f"{self.url}/admin/{path}", json=body,
                                       headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def service(module_processes: ProcessGroup, redis_server_bin: str) -> Iterator[Service]:
    redis_port, policy_port, port = free_port(), free_port(), free_port()
    redis = module_processes.start([redis_server_bin, "--port", str(redis_port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no"], name="redis")  # fmt: skip
    redis.wait_port(redis_port, timeout=20)
    policy = module_processes.start([sloguard_executable(), "demo", "policy-server", "--port", str(policy_port)],
                                    name="policy-server")  # fmt: skip
    policy.wait_http(f"http://127.0.0.1:{policy_port}/health", timeout=30)
    argv = [
        sloguard_executable(), "demo", "serve", "--port", str(port), "--rollout", "50",
        "--opa-url", f"http://127.0.0.1:{policy_port}", "--redis-url", f"redis://127.0.0.1:{redis_port}/0",
        "--secret", SECRET, "--admin-token", ADMIN,
    ]  # fmt: skip
    handle = module_processes.start(argv, name="service", env={c.ENV_RUST_ENABLED: "true"})
    handle.wait_http(f"http://127.0.0.1:{port}/ready", timeout=30)
    with httpx.Client(timeout=10) as client:
        yield Service(client, port)


def drive_both_paths(service: Service) -> None:
    """Each request twice on each path (a miss, then a hit or a bypass), refusals, and a failed evaluation."""
    for pct, impl in ((100, c.IMPL_RUST), (0, c.IMPL_PYTHON)):
        service.admin("PUT", "rollout", {"percentage": pct})
        service.admin("POST", "cache/clear")
        for identity, body in REQUESTS * 2:
            response = service.authorize(identity, body)
            assert response.status_code == 200 and response.headers[c.HEADER_IMPLEMENTATION] == impl
        service.admin("PUT", "faults", {"errors": {impl: "100%"}})
        failed = service.authorize(ADMIN_ACME, {"action": INVOKE, "server_name": "docs-mcp", "tool_name": "x"})
        assert failed.json()["allow"] is False
        service.admin("DELETE", "faults")
    assert service.authorize(ADMIN_ACME, REQUESTS[0][1], token="not-a-token").status_code == 401
    assert service.authorize(ADMIN_ACME, {"action": "gateway:tool:explode"}).status_code == 422


def total(samples: list[Any], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_sark_families_are_exposed_with_sarks_names_types_and_labels(service: Service, promtool_bin: str) -> None:
    drive_both_paths(service)
    text = service.client.get(f"{service.url}/metrics").text
    check = subprocess.run([promtool_bin, "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check

    exposed = {f.name: f for f in text_string_to_metric_families(text)}
    for name, (kind, labels) in SARK_FAMILIES.items():
        family = exposed[name.removesuffix("_total")]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    for name, bounds in SARK_BUCKETS.items():
        les = {float(s.labels["le"]) for s in exposed[name].samples if s.name == f"{name}_bucket"}
        assert bounds | set(c.LATENCY_BUCKETS) <= les, name
    samples = [s for family in exposed.values() for s in family.samples]

    # Traffic reached every family, on both paths where the family tells them apart.
    for decision in ("allow", "deny"):
        assert total(samples, c.SARK_GATEWAY_AUTHZ_REQUESTS, decision=decision) > 0
        for impl in c.IMPLEMENTATIONS:
            assert total(samples, c.OPA_EVALUATIONS, implementation=impl, result=decision) > 0
    assert total(samples, c.SARK_GATEWAY_AUTHZ_REQUESTS, server="docs-mcp", action=INVOKE) > 0
    assert total(samples, c.SARK_GATEWAY_AUTHZ_REQUESTS, server="", action="gateway:server:list") > 0
    for cache_name in c.CACHE_NAMES.values():
        for result in ("hit", "miss"):
            assert total(samples, c.SARK_GATEWAY_CACHE_OPERATIONS, cache_name=cache_name, result=result) > 0
    for status in (c.STATUS_SUCCESS, c.STATUS_ERROR):
        assert total(samples, c.SARK_GATEWAY_REQUESTS, status=status, endpoint=c.AUTHORIZE_PATH) > 0
    assert total(samples, c.SARK_GATEWAY_REQUESTS, status=c.STATUS_ERROR, user=c.USER_ANONYMOUS) == 1
    assert total(samples, c.SARK_GATEWAY_REQUESTS, user="ana", tool="execute_query") == 4
    for cache_status in ("hit", "miss"):
        assert total(samples, f"{c.SARK_POLICY_DURATION}_count", cache_status=cache_status) > 0
    policy = policy_name(c.DEMO_DEFAULT_DECISION)
    assert total(samples, c.SARK_POLICY_DECISIONS, policy_name=policy, resource_type="tool") > 0
    assert total(samples, c.SARK_POLICY_DECISIONS, policy_name=policy, resource_type="server") > 0
    assert total(samples, c.SARK_POLICY_CACHE_HITS, policy_name=policy, sensitivity_level="unknown") > 0
    assert total(samples, c.SARK_POLICY_ERRORS, error_type=c.ERROR_INJECTED) == 2
    assert total(samples, c.SARK_GATEWAY_IN_FLIGHT) == 0  # nothing in flight while /metrics answers

    # The SARK families count the same events as sloguard's own contract.
    authz = total(samples, c.AUTHZ_REQUESTS)
    assert authz == total(samples, c.SARK_GATEWAY_AUTHZ_REQUESTS) == total(samples, f"{c.AUTHZ_DURATION}_count")
    assert authz == total(samples, f"{c.SARK_GATEWAY_AUTHZ_LATENCY}_count")
    assert authz == total(samples, f"{c.SARK_GATEWAY_REQUEST_DURATION}_count")
    assert authz == total(samples, c.SARK_GATEWAY_REQUESTS, status=c.STATUS_SUCCESS)
    errors = total(samples, c.AUTHZ_REQUESTS, decision="error")
    assert total(samples, c.SARK_GATEWAY_AUTHZ_REQUESTS, decision="deny") == total(
        samples, c.AUTHZ_REQUESTS, decision="deny") + errors  # fmt: skip
    decided = total(samples, c.SARK_POLICY_EVALUATIONS)
    assert decided + errors == authz
    assert decided == total(samples, c.SARK_POLICY_DECISIONS) == total(samples, f"{c.SARK_POLICY_DURATION}_count")
    assert total(samples, c.SARK_POLICY_ERRORS) == total(samples, c.OPA_ERRORS) == errors
    get_hits = total(samples, c.CACHE_OPERATIONS, operation="get", result="hit")
    get_misses = total(samples, c.CACHE_OPERATIONS, operation="get", result="miss")
    assert total(samples, c.SARK_GATEWAY_CACHE_HITS) == total(samples, c.SARK_POLICY_CACHE_HITS) == get_hits > 0
    assert total(samples, c.SARK_GATEWAY_CACHE_MISSES) == total(samples, c.SARK_POLICY_CACHE_MISSES) == get_misses
    assert get_hits == total(samples, f"{c.AUTHZ_DURATION}_count", cache="hit")
