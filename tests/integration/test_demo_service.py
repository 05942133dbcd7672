"""The reference SARK service as real processes: redis-server, the policy server, the service.

One stack per module (started once); tests that stop Redis or the policy server start them
again on the same port before they return.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.demo.corpus import generate
from sloguard.demo.tokens import issue_token
from tests.support.clirun import sloguard_executable
from tests.support.processes import ProcessGroup, ProcessHandle, free_port

pytestmark = pytest.mark.integration

SECRET = "integration-secret-0123456789abcdef"
ADMIN = "integration-admin-token"


@dataclass
class Stack:
    """The three processes and how to talk to them."""

    group: ProcessGroup
    redis_bin: str
    redis_port: int
    policy_port: int
    port: int
    redis: ProcessHandle
    policy: ProcessHandle
    service: ProcessHandle
    client: httpx.Client

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_redis(self) -> None:
        self.redis = start_redis(self.group, self.redis_bin, self.redis_port)

    def start_policy_server(self) -> None:
        self.policy = start_policy_server(self.group, self.policy_port)

    def authorize(self, identity: tuple[str, list[str], str], body: dict[str, Any]) -> httpx.Response:
        token = issue_token(identity[0], identity[1], identity[2], secret=SECRET)
        return self.client.post(
            f"{self.url}{c.AUTHORIZE_PATH}", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    def admin(self, method: str, path: str, body: Any = None, token: str = ADMIN) -> httpx.Response:
        return self.client.request(
            method, f"{self.url}/admin/{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )

    def rollout(self, pct: float) -> None:
        assert self.admin("PUT", "rollout", {"percentage": pct}).status_code == 200
        assert self.admin("POST", "cache/clear").status_code == 200

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = self.client.get(f"{self.url}/metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return sum(
            v
            for (n, ls), v in self.metrics().items()
            if n == name and all(dict(ls).get(k) == w for k, w in labels.items())
        )


def start_redis(group: ProcessGroup, binary: str, port: int) -> ProcessHandle:
    handle = group.start(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], name="redis"
    )
    handle.wait_port(port, timeout=20)
    return handle


def start_policy_server(group: ProcessGroup, port: int, policies: Path | None = None) -> ProcessHandle:
    argv = [sloguard_executable(), "demo", "policy-server", "--port", str(port)]
    if policies:
        argv += ["--policies", str(policies)]
    handle = group.start(argv, name="policy-server")
    handle.wait_http(f"http://127.0.0.1:{port}/health", timeout=30)
    return handle


def start_service(group: ProcessGroup, port: int, policy_port: int, redis_port: int, *extra: str) -> ProcessHandle:
    argv = [
        sloguard_executable(), "demo", "serve", "--port", str(port),
        "--opa-url", f"http://127.0.0.1:{policy_port}", "--redis-url", f"redis://127.0.0.1:{redis_port}/0",
        "--secret", SECRET, "--admin-token", ADMIN, *extra,
    ]  # fmt: skip
    handle = group.start(argv, name="service", env={c.ENV_RUST_ENABLED: "true"})
    handle.wait_http(f"http://127.0.0.1:{port}/ready", timeout=30)
    return handle


@pytest.fixture(scope="module")
def stack(module_processes: ProcessGroup, redis_server_bin: str) -> Iterator[Stack]:
    redis_port, policy_port, port = free_port(), free_port(), free_port()
    redis = start_redis(module_processes, redis_server_bin, redis_port)
    policy = start_policy_server(module_processes, policy_port)
    service = start_service(module_processes, port, policy_port, redis_port, "--rollout", "50")
    with httpx.Client(timeout=10) as client:
        yield Stack(module_processes, redis_server_bin, redis_port, policy_port, port, redis, policy, service, client)


ADMIN_ACME = ("root", ["admin"], "acme")


def unique_body(server: str = "docs-mcp") -> dict[str, Any]:
    """A request no cache has seen."""
    return {"action": "gateway:tool:invoke", "server_name": server, "tool_name": "get_page",
            "parameters": {"page": uuid.uuid4().hex}}  # fmt: skip


def test_health_ready_and_request_errors(stack: Stack) -> None:
    assert stack.client.get(f"{stack.url}/health").status_code == 200
    ready = stack.client.get(f"{stack.url}/ready").json()
    assert ready["ready"] is True and ready["redis"]["up"] is True and ready["policy_server"]["up"] is True
    url = f"{stack.url}{c.AUTHORIZE_PATH}"
    assert stack.client.post(url, json=unique_body()).status_code == 401
    forged = issue_token("root", ["admin"], "acme", secret="not-the-service-secret-0123456789")
    assert stack.client.post(url, json=unique_body(), headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert stack.authorize(ADMIN_ACME, {"action": "gateway:tool:explode"}).status_code == 422
    good = stack.authorize(ADMIN_ACME, unique_body())
    assert good.status_code == 200
    body = good.json()
    assert set(body) == {"allow", "reason", "filtered_parameters", "cache_ttl", "audit_id"}
    assert body["allow"] is True and body["cache_ttl"] == 1800
    assert good.headers[c.HEADER_IMPLEMENTATION] in c.IMPLEMENTATIONS


def test_both_paths_answer_the_corpus_identically(stack: Stack) -> None:
    corpus = generate(240)
    answers: dict[str, list[tuple[Any, ...]]] = {}
    for pct, impl in ((100, c.IMPL_RUST), (0, c.IMPL_PYTHON)):
        stack.rollout(pct)
        answers[impl] = []
        for request in corpus:
            ident = request.identity
            response = stack.authorize((ident.user_id, list(ident.roles), ident.tenant), request.body)
            assert response.status_code == 200, response.text
            assert response.headers[c.HEADER_IMPLEMENTATION] == impl
            body = response.json()
            answers[impl].append((body["allow"], body["reason"], body["cache_ttl"], body["filtered_parameters"]))
    assert answers[c.IMPL_RUST] == answers[c.IMPL_PYTHON]
    assert len({a[1] for a in answers[c.IMPL_RUST]}) >= 10  # every rule's reason shows up
    assert not any(a[1].startswith("policy evaluation failed") for a in answers[c.IMPL_RUST])
    stack.rollout(50)


def test_critical_decisions_never_reach_redis(stack: Stack) -> None:
    import redis

    stack.rollout(0)  # the Python path: Redis
    store = redis.Redis(port=stack.redis_port)
    before = store.dbsize()
    critical = {"action": "gateway:tool:invoke", "server_name": "vault-mcp", "tool_name": "read_secret"}
    for _ in range(3):
        assert stack.authorize(ADMIN_ACME, critical).json()["cache_ttl"] == 0
    assert store.dbsize() == before
    stack.authorize(ADMIN_ACME, {**critical, "server_name": "postgres-mcp", "tool_name": "list_tables"})
    assert store.dbsize() == before + 1
    store.close()
    stack.rollout(50)


def test_redis_down_the_python_path_keeps_answering(stack: Stack) -> None:
    stack.rollout(0)
    errors = stack.value(c.CACHE_OPERATIONS, implementation="python", operation="get", result="error")
    bypass = stack.value(f"{c.AUTHZ_DURATION}_count", implementation="python", cache="bypass")
    stack.redis.stop()
    try:
        for _ in range(20):
            response = stack.authorize(ADMIN_ACME, unique_body())
            assert response.status_code == 200 and response.json()["allow"] is True
        assert stack.value(c.CACHE_OPERATIONS, implementation="python", operation="get", result="error") == errors + 20
        assert stack.value(f"{c.AUTHZ_DURATION}_count", implementation="python", cache="bypass") == bypass + 20
        assert stack.client.get(f"{stack.url}/ready").json()["redis"]["up"] is False
    finally:
        stack.start_redis()
    # Back: the cache is used again (bounded poll, no timing assertion).
    deadline = time.monotonic() + 30
    sets = stack.value(c.CACHE_OPERATIONS, implementation="python", operation="set", result="ok")
    while stack.value(c.CACHE_OPERATIONS, implementation="python", operation="set", result="ok") == sets:
        assert time.monotonic() < deadline, "the Python path never used Redis again"
        stack.authorize(ADMIN_ACME, unique_body())
        time.sleep(0.05)
    stack.rollout(50)


def test_policy_server_down_denies_with_error_and_recovers(stack: Stack) -> None:
    stack.rollout(0)
    errors = stack.value(c.AUTHZ_REQUESTS, implementation="python", decision="error")
    stack.policy.stop()
    try:
        for _ in range(10):
            response = stack.authorize(ADMIN_ACME, unique_body())
            assert response.status_code == 200
            assert response.json()["allow"] is False
            assert response.json()["reason"].startswith("policy evaluation failed")
        assert stack.value(c.AUTHZ_REQUESTS, implementation="python", decision="error") == errors + 10
        assert stack.value(c.OPA_ERRORS, implementation="python", error_type=c.ERROR_UNAVAILABLE) >= 10
        assert stack.client.get(f"{stack.url}/ready").status_code == 503
    finally:
        started = time.monotonic()
        stack.start_policy_server()
    healthy = time.monotonic()
    # Recovery: poll until the Python path decides again; the bound is generous on purpose.
    deadline = healthy + 30
    while True:
        body = stack.authorize(ADMIN_ACME, unique_body()).json()
        if body["allow"] is True:
            break
        assert time.monotonic() < deadline, "the service did not recover after the policy server came back"
        time.sleep(0.02)
    recovered = time.monotonic()
    print(f"\npolicy server restart -> healthy {healthy - started:.2f} s; healthy -> service recovered "
          f"{(recovered - healthy) * 1000:.0f} ms")  # fmt: skip
    assert stack.client.get(f"{stack.url}/ready").status_code == 200
    stack.rollout(50)


def test_admin_api_rollout_and_faults(stack: Stack) -> None:
    assert stack.admin("GET", "rollout", token="wrong").status_code == 401
    assert stack.client.get(f"{stack.url}/admin/faults").status_code == 401
    assert stack.admin("PUT", "rollout", {"rust_opa": 150}).status_code == 400
    state = stack.admin("PUT", "rollout", {"rust_opa": 100, "rust_cache": 0}).json()
    assert state[c.FLAG_RUST_OPA] == 100 and state[c.FLAG_RUST_CACHE] == 0
    assert stack.value(c.FLAG_ROLLOUT, feature=c.FLAG_RUST_OPA) == 100
    assert stack.authorize(ADMIN_ACME, unique_body()).headers[c.HEADER_IMPLEMENTATION] == "rust"

    # Simulated Rust failures fall back to Python and count.
    fallbacks = stack.value(c.FALLBACKS, feature=c.FLAG_RUST_OPA)
    assert stack.admin("PUT", "faults", {"panics": {"rust_opa": "100%"}}).status_code == 200
    response = stack.authorize(ADMIN_ACME, unique_body())
    assert response.headers[c.HEADER_IMPLEMENTATION] == "python" and response.json()["allow"] is True
    assert stack.value(c.FALLBACKS, feature=c.FLAG_RUST_OPA) == fallbacks + 1

    # Injected errors deny with decision="error" on the targeted implementation.
    errors = stack.value(c.AUTHZ_REQUESTS, implementation="rust", decision="error")
    stack.admin("DELETE", "faults")
    assert stack.admin("PUT", "faults", {"errors": {"rust": "100%"}}).json()["errors"] == {"rust": 1.0}
    assert stack.authorize(ADMIN_ACME, unique_body()).json()["allow"] is False
    assert stack.value(c.AUTHZ_REQUESTS, implementation="rust", decision="error") == errors + 1

    # A leak shows in the process's resident memory.
    stack.admin("DELETE", "faults")
    rss = stack.value(c.PROCESS_RSS)
    stack.admin("PUT", "faults", {"leak": {"rust": "1MiB"}})
    for _ in range(40):
        stack.authorize(ADMIN_ACME, unique_body())
    assert stack.admin("GET", "faults").json()["leaked_bytes"] == 40 * 1048576
    assert stack.value(c.PROCESS_RSS) - rss >= 30 * 1048576
    assert stack.admin("PUT", "faults", {"leak": {"go": "1MiB"}}).status_code == 400
    assert stack.admin("DELETE", "faults").json()["leaked_bytes"] == 0
    stack.rollout(50)


def test_metrics_carry_the_contract_for_both_implementations_and_pass_promtool(stack: Stack, promtool_bin: str) -> None:
    stack.rollout(50)
    users = [(f"user-{i}", ["admin"], "acme") for i in range(40)]
    for user in users:  # 40 users at 50 % land on both paths; each asks twice (miss, then hit)
        body = {"action": "gateway:tool:invoke", "server_name": "docs-mcp", "tool_name": "get_page"}
        stack.authorize(user, body)
        stack.authorize(user, body)
    text = stack.client.get(f"{stack.url}/metrics").text
    check = subprocess.run([promtool_bin, "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", check

    samples = stack.metrics()
    names = {name for name, _ in samples}
    for impl in c.IMPLEMENTATIONS:
        for name in (
            f"{c.AUTHZ_DURATION}_count", c.AUTHZ_REQUESTS, f"{c.OPA_DURATION}_count", c.OPA_EVALUATIONS,
            f"{c.CACHE_DURATION}_count", c.CACHE_OPERATIONS, c.FLAG_ASSIGNMENTS,
        ):  # fmt: skip
            assert stack.value(name, implementation=impl) > 0, (name, impl)
        for name in (f"{c.AUTHZ_DURATION}_bucket", f"{c.OPA_DURATION}_bucket", f"{c.CACHE_DURATION}_bucket",
                     f"{c.AUTHZ_DURATION}_sum", c.OPA_ERRORS):  # fmt: skip
            assert any(n == name and dict(ls).get("implementation") == impl for n, ls in samples), (name, impl)
        for cache in ("hit", "miss"):
            assert stack.value(f"{c.AUTHZ_DURATION}_count", implementation=impl, cache=cache) > 0
    for feature in c.FEATURE_FLAGS:
        assert stack.value(c.FLAG_ROLLOUT, feature=feature) == 50
        assert any(n == c.FALLBACKS and dict(ls).get("feature") == feature for n, ls in samples)
    assert {c.PROCESS_RSS, "process_cpu_seconds_total"} <= names
    les = {dict(ls)["le"] for n, ls in samples if n == f"{c.AUTHZ_DURATION}_bucket"}
    assert {"1e-05", "0.0005", "0.005", "10.0", "+Inf"} <= les


def test_a_custom_bundle_that_crashes_fails_closed_on_both_paths(
    module_processes: ProcessGroup, stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "policy.rego").write_text(
        "package custom.authz\n\n"
        "# Crashes (divide by zero) for requests without parameters.\n"
        'verdict := {"allow": true, "reason": "ok", "cache_ttl": 60 / count(input.parameters)}\n'
    )
    policy_port, port = free_port(), free_port()
    policy = start_policy_server(module_processes, policy_port, tmp_path)
    service = start_service(module_processes, port, policy_port, stack.redis_port,
                            "--policies", str(tmp_path), "--decision", "data.custom.authz.verdict")  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        token = issue_token("u", ["x"], "t", secret=SECRET)
        for pct, impl in ((100, "rust"), (0, "python")):
            stack.client.put(f"{url}/admin/rollout", json={"percentage": pct},
                             headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
            crash = stack.client.post(f"{url}{c.AUTHORIZE_PATH}", json={"action": "gateway:server:list"},
                                      headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert crash.headers[c.HEADER_IMPLEMENTATION] == impl
            assert crash.json()["allow"] is False and "divide by zero" in crash.json()["reason"]
            fine = stack.client.post(
                f"{url}{c.AUTHORIZE_PATH}", headers={"Authorization": f"Bearer {token}"},
                json={"action": "gateway:server:list", "parameters": {"p": impl}},
            )  # fmt: skip
            assert fine.json()["allow"] is True and fine.json()["reason"] == "ok"
        text = stack.client.get(f"{url}/metrics").text
        errors = {
            s.labels["implementation"]: s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == c.AUTHZ_REQUESTS and s.labels["decision"] == "error"
        }  # fmt: skip
        assert errors == {"rust": 1.0, "python": 1.0}
    finally:
        service.stop()
        policy.stop()
