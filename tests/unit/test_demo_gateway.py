"""The gateway's decision flow in-process: both paths, cache isolation, fail-closed, fallback, faults.

The Python path talks to a real policy-server process on a free loopback port;
Redis is covered in tests/integration/test_demo_service.py.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("regorus")
pytest.importorskip("starlette")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.demo.cache import RustCache
from sloguard.demo.corpus import generate
from sloguard.demo.decision import Identity, build_input, parse_decision
from sloguard.demo.engine import PolicyEngine
from sloguard.demo.faults import Faults
from sloguard.demo.gateway import Gateway
from sloguard.demo.opa_client import OpaClient
from sloguard.demo.routing import Router
from sloguard.instrument import Instrumentation
from tests.support.processes import ProcessHandle, free_port

ENGINE = None


@pytest.fixture(autouse=True)
def _collect_engines_here() -> Any:
    """Collect garbage engines on this thread: regorus engines may not be dropped on another one."""
    yield
    import gc

    gc.collect()


def engine() -> PolicyEngine:
    global ENGINE
    if ENGINE is None:
        ENGINE = PolicyEngine.from_directory()
    return ENGINE


def metric(inst: Instrumentation, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(inst.exposition().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def start_policy_server(log_dir: Path, policies: Path | None = None) -> tuple[ProcessHandle, str]:
    """`sloguard demo policy-server` as a real process; its URL."""
    port = free_port()
    argv = [sys.executable, "-m", "sloguard", "demo", "policy-server", "--host", "127.0.0.1", "--port", str(port)]
    if policies is not None:
        argv += ["--policies", str(policies)]
    handle = ProcessHandle.start(argv, name="policy-server", log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    handle.wait_http(f"{url}/health")
    return handle, url


@pytest.fixture(scope="module")
def policy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    handle, url = start_policy_server(tmp_path_factory.mktemp("policy-server"))
    yield url
    handle.stop()


def make_gateway(
    rust_opa: float = 100, rust_cache: float = 100, *, faults: Faults | None = None,
    policy_engine: PolicyEngine | None = None, opa_url: str = "http://127.0.0.1:9",
) -> Gateway:  # fmt: skip
    return Gateway(
        policy_engine or engine(), OpaClient(opa_url), RustCache(), None,
        Router(rust_opa, rust_cache, rust_enabled=True), faults or Faults(),
        Instrumentation("fast", process_metrics=False),
    )  # fmt: skip


def authorize(gateway: Gateway, identity: Identity, body: dict[str, Any]) -> Any:
    return gateway.authorize(
        identity, body["action"], body.get("server_name"), body.get("tool_name"),
        body.get("parameters") or {}, body.get("gateway_metadata") or {},
    )  # fmt: skip


def test_both_paths_return_identical_decisions_on_the_corpus(policy_url: str) -> None:
    async def main() -> None:
        gateway = make_gateway(opa_url=policy_url)
        corpus = generate(220)
        for request in corpus:
            body = request.body
            pin = build_input(
                request.identity, body["action"], body.get("server_name"), body.get("tool_name"),
                body.get("parameters") or {}, body.get("gateway_metadata") or {}, 1.0,
            )  # fmt: skip
            rust = await gateway.evaluate(c.IMPL_RUST, pin)
            python = await gateway.evaluate(c.IMPL_PYTHON, pin)
            assert rust == python, body
            assert not rust.error
        assert metric(gateway.inst, c.OPA_EVALUATIONS, implementation="python") == len(corpus)
        assert metric(gateway.inst, c.OPA_EVALUATIONS, implementation="rust") == len(corpus)
        await gateway.close()

    asyncio.run(main())


# -- cache isolation ---------------------------------------------------------------------------

identities = st.builds(
    Identity,
    user_id=st.sampled_from(["u1", "u2"]),
    roles=st.lists(st.sampled_from(["admin", "analyst", "developer"]), max_size=2, unique=True).map(tuple),
    tenant=st.sampled_from(["acme", "globex"]),
)
bodies = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["gateway:tool:invoke", "gateway:server:info"]),
        "server_name": st.sampled_from(["postgres-mcp", "github-mcp", "docs-mcp", "vault-mcp", "crm-mcp"]),
        "tool_name": st.sampled_from(["execute_query", "get_file", "get_page", "close_issue"]),
        "parameters": st.dictionaries(
            st.sampled_from(["query", "path", "limit"]),
            st.sampled_from(["SELECT 1", "DROP TABLE t", "README.md", 1, 1.0, True]),
            max_size=2,
        ),
        "gateway_metadata": st.fixed_dictionaries({"request_id": st.text(max_size=3)}),
    }
)


def decision_inputs(identity: Identity, body: dict[str, Any]) -> tuple[Any, ...]:
    return (identity.user_id, tuple(sorted(identity.roles)), identity.tenant, body["action"],
            body["server_name"], body["tool_name"], repr(sorted(body["parameters"].items())))  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.tuples(identities, bodies), second=st.tuples(identities, bodies), cache=st.sampled_from([0, 100]))
def test_no_decision_is_served_to_a_request_that_differs_in_any_decision_input(
    first: tuple[Identity, dict[str, Any]], second: tuple[Identity, dict[str, Any]], cache: int
) -> None:
    """Prime the cache with one request, then ask another: a hit only for equal decision inputs."""

    async def main() -> None:
        # rust_cache=0 sends the cache to Redis, which is absent here: everything bypasses.
        gateway = make_gateway(100, cache)
        await authorize(gateway, *first)
        outcome = await authorize(gateway, *second)
        same = decision_inputs(*first) == decision_inputs(*second)
        fresh = parse_decision(engine().evaluate(build_input(
            second[0], second[1]["action"], second[1]["server_name"], second[1]["tool_name"],
            second[1]["parameters"], second[1]["gateway_metadata"], 2.0).json))  # fmt: skip
        assert outcome.decision == fresh
        if outcome.cache == "hit":
            assert same
        if same and cache == 100 and fresh.cache_ttl > 0:
            assert outcome.cache == "hit"
        await gateway.close()

    asyncio.run(main())


def test_critical_decisions_are_never_cached(policy_url: str) -> None:
    async def main() -> None:
        gateway = make_gateway(opa_url=policy_url)
        admin = Identity("root", ("admin",), "acme")
        body = {"action": "gateway:tool:invoke", "server_name": "vault-mcp", "tool_name": "read_secret"}
        outcomes = [await authorize(gateway, admin, body) for _ in range(3)]
        assert [o.cache for o in outcomes] == ["bypass"] * 3
        assert all(o.decision.allow and o.decision.cache_ttl == 0 for o in outcomes)
        assert len(gateway.rust_cache) == 0
        assert metric(gateway.inst, c.OPA_EVALUATIONS) == 3
        assert metric(gateway.inst, f"{c.AUTHZ_DURATION}_count", cache="bypass", decision="allow") == 3
        # A high-sensitivity decision, by contrast, is cached.
        body = {"action": "gateway:tool:invoke", "server_name": "postgres-mcp", "tool_name": "list_tables"}
        assert [(await authorize(gateway, admin, body)).cache for _ in range(2)] == ["miss", "hit"]
        await gateway.close()

    asyncio.run(main())


# -- failures ----------------------------------------------------------------------------------


def test_policy_errors_fail_closed_on_both_paths(tmp_path: Any) -> None:
    (tmp_path / "p.rego").write_text(
        'package sark.gateway\ndecision := {"allow": true, "cache_ttl": 60 / count(input.parameters)}\n'
    )
    broken = PolicyEngine.from_directory(tmp_path)
    server, url = start_policy_server(tmp_path / "logs", tmp_path)

    async def main() -> None:
        for rollout in (100, 0):
            gateway = make_gateway(rollout, 100, policy_engine=broken, opa_url=url)
            user = Identity("u", ("admin",), "acme")
            outcome = await authorize(gateway, user, {"action": "gateway:tool:invoke", "server_name": "docs-mcp",
                                                      "tool_name": "get_page"})  # fmt: skip
            impl = c.IMPL_RUST if rollout else c.IMPL_PYTHON
            assert outcome.implementation == impl
            assert outcome.decision.allow is False and outcome.decision.error
            assert outcome.decision.label == "error"
            assert "divide by zero" in outcome.decision.reason
            assert len(gateway.rust_cache) == 0  # errors are never cached
            assert metric(gateway.inst, c.OPA_ERRORS, implementation=impl, error_type=c.ERROR_POLICY) == 1
            assert metric(gateway.inst, c.AUTHZ_REQUESTS, implementation=impl, decision="error") == 1
            # The same policy decides when it does not crash.
            ok = await authorize(gateway, user, {"action": "gateway:tool:invoke", "server_name": "docs-mcp",
                                                 "tool_name": "get_page", "parameters": {"a": 1}})  # fmt: skip
            assert ok.decision.allow and not ok.decision.error
            await gateway.close()

    try:
        asyncio.run(main())
    finally:
        server.stop()


def test_unreachable_policy_server_denies_with_error() -> None:
    async def main() -> None:
        gateway = make_gateway(0, 100, opa_url="http://127.0.0.1:9")
        outcome = await authorize(gateway, Identity("u", ("admin",), "acme"),
                                  {"action": "gateway:server:list"})  # fmt: skip
        assert outcome.implementation == c.IMPL_PYTHON
        assert outcome.decision.error and not outcome.decision.allow
        assert metric(gateway.inst, c.OPA_ERRORS, implementation="python", error_type=c.ERROR_UNAVAILABLE) == 1
        await gateway.close()

    asyncio.run(main())


def test_rust_failures_fall_back_to_python_and_count(policy_url: str) -> None:
    async def main() -> None:
        faults = Faults()
        faults.set("panics", c.FLAG_RUST_OPA, 1.0)
        faults.set("panics", c.FLAG_RUST_CACHE, 1.0)
        gateway = make_gateway(faults=faults, opa_url=policy_url)
        user = Identity("u", ("developer",), "acme")
        body = {"action": "gateway:tool:invoke", "server_name": "github-mcp", "tool_name": "get_file"}
        outcome = await authorize(gateway, user, body)
        assert outcome.implementation == c.IMPL_PYTHON and outcome.decision.allow
        assert metric(gateway.inst, c.FALLBACKS, feature=c.FLAG_RUST_OPA, error_type=c.ERROR_INJECTED) == 1
        assert metric(gateway.inst, c.FALLBACKS, feature=c.FLAG_RUST_CACHE, error_type=c.ERROR_INJECTED) == 1
        assert metric(gateway.inst, c.OPA_EVALUATIONS, implementation="python") == 1
        await gateway.close()

    asyncio.run(main())


def test_injected_errors_latency_and_leak(policy_url: str) -> None:
    async def main() -> None:
        faults = Faults()
        faults.set("errors", c.IMPL_RUST, 1.0)
        faults.set("leak", c.IMPL_RUST, 4096)
        faults.set("latency", c.IMPL_RUST, 0.01)
        gateway = make_gateway(faults=faults, opa_url=policy_url)
        user = Identity("u", ("admin",), "acme")
        for i in range(3):
            outcome = await authorize(gateway, user, {"action": "gateway:server:list", "parameters": {"i": i}})
            assert outcome.decision.error and outcome.implementation == c.IMPL_RUST
        assert metric(gateway.inst, c.OPA_ERRORS, implementation="rust", error_type=c.ERROR_INJECTED) == 3
        assert faults.leaked_bytes == 3 * 4096
        # asyncio.sleep never returns early, so every evaluation took at least the injected 10 ms.
        assert metric(gateway.inst, f"{c.OPA_DURATION}_sum", implementation="rust") >= 0.03
        assert metric(gateway.inst, f"{c.OPA_DURATION}_bucket", implementation="rust", le="0.0075") == 0
        faults.clear()
        assert faults.leaked_bytes == 0
        ok = await authorize(gateway, user, {"action": "gateway:server:list"})
        assert not ok.decision.error
        await gateway.close()

    asyncio.run(main())


def test_flag_assignments_and_rollout_gauge(policy_url: str) -> None:
    async def main() -> None:
        gateway = make_gateway(30, 70, opa_url=policy_url)
        users = [Identity(f"user-{i}", ("admin",), "acme") for i in range(200)]
        for user in users:
            await authorize(gateway, user, {"action": "gateway:server:list"})
        inst = gateway.inst
        rust = metric(inst, c.FLAG_ASSIGNMENTS, feature=c.FLAG_RUST_OPA, implementation="rust")
        python = metric(inst, c.FLAG_ASSIGNMENTS, feature=c.FLAG_RUST_OPA, implementation="python")
        assert rust + python == 200 and 30 < rust < 90  # ~30 % of 200 users
        assert metric(inst, c.FLAG_ROLLOUT, feature=c.FLAG_RUST_CACHE) == 70
        gateway.set_rollout(c.FLAG_RUST_OPA, 0)
        assert metric(inst, c.FLAG_ROLLOUT, feature=c.FLAG_RUST_OPA) == 0
        await gateway.close()

    asyncio.run(main())
