"""sloguard.instrument: the metric contract, explicit boundaries, and fast == stock OpenTelemetry."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("opentelemetry.exporter.prometheus")

from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.instrument import Instrumentation
from sloguard.metric_families import policy_name, resource_type
from tests.support.sarkfamilies import SARK_FAMILIES

CONTRACT_FAMILIES = {
    # family name as prometheus_client's parser reports it -> type
    "sark_authz_duration_seconds": "histogram",
    "sark_authz_requests": "counter",
    "opa_evaluation_duration_seconds": "histogram",
    "opa_evaluation": "counter",
    "opa_evaluation_errors": "counter",
    "cache_operation_duration_seconds": "histogram",
    "cache_operations": "counter",
    "feature_flag_assignments": "counter",
    "feature_flag_rollout_percentage": "gauge",
    "implementation_fallback": "counter",
}
SERVERS = tuple(f"server-{i}" for i in range(c.OPEN_LABEL_LIMIT + 8))  # more than the label keeps
ACTION = c.GATEWAY_ACTIONS[0]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parsed_name(name: str) -> str:
    """The family name prometheus_client's parser reports (counters lose _total)."""
    return name.removesuffix("_total")


def samples(text: bytes) -> Samples:
    """Every sample of an exposition keyed by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(got: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` that carry ``labels``."""
    return sum(v for (n, ls), v in got.items() if n == name and labels.items() <= dict(ls).items())


def record_random(inst: Instrumentation, seed: int, count: int = 3000) -> None:
    """The same pseudo-random recordings for any instrumentation."""
    rng = random.Random(seed)
    bounds = c.LATENCY_BUCKETS
    for _ in range(count):
        # Boundary values on purpose: le is inclusive, the classic off-by-one of bucketing.
        value = rng.choice(bounds) if rng.random() < 0.3 else rng.uniform(0, 0.02) ** 1.5
        kind = rng.randrange(8)
        impl = rng.choice(c.IMPLEMENTATIONS)
        action = rng.choice(c.GATEWAY_ACTIONS)
        if kind == 0:
            key = (impl, rng.choice(c.DECISIONS), rng.choice(c.CACHE_STATES), action, rng.choice(SERVERS))
            inst.authz[key].observe(value)
        elif kind == 1:
            inst.opa[(impl, rng.choice(c.DECISIONS), action)].observe(value)
        elif kind == 2:
            op = rng.choice(c.CACHE_OPS)
            result = rng.choice({"get": ("hit", "miss", "error"), "set": ("ok", "error"), "delete": ("ok",)}[op])
            inst.cache[(impl, op, result, action)].observe(value)
        elif kind == 3:
            inst.flag[(rng.choice(c.FEATURE_FLAGS), impl)].inc()
        elif kind == 4:
            inst.opa_error(impl, rng.choice(c.ERROR_TYPES))
        elif kind == 5:
            inst.fallback(rng.choice(c.FEATURE_FLAGS), rng.choice(c.ERROR_TYPES))
        elif kind == 6:
            status = rng.choice((c.STATUS_SUCCESS, c.STATUS_ERROR))
            inst.requests[(status, f"user-{rng.randrange(50)}", rng.choice(("get_page", "list_tables", "")))].inc()
        else:
            inst.in_flight.inc()
            if rng.random() < 0.8:
                inst.in_flight.dec()
    inst.set_rollout(c.FLAG_RUST_OPA, 37.5)


@pytest.mark.parametrize("mode", ["fast", "otel"])
def test_exposition_carries_exactly_the_contract_names(mode: str) -> None:
    inst = Instrumentation(mode)
    record_random(inst, seed=1, count=500)
    families = {f.name: f.type for f in text_string_to_metric_families(inst.exposition().decode())}
    ours = {name: kind for name, kind in families.items() if not name.startswith("process_") and name != "target_info"}
    assert ours == CONTRACT_FAMILIES | {parsed_name(name): kind for name, (kind, _) in SARK_FAMILIES.items()}
    assert "process_resident_memory_bytes" in families
    names = {name for name, _ in samples(inst.exposition())}
    assert {f"{c.AUTHZ_DURATION}_bucket", c.AUTHZ_REQUESTS, c.OPA_EVALUATIONS, c.FLAG_ROLLOUT} <= names
    assert not any(n.endswith(("_ratio", "_1", "_percent")) for n in names)
    inst.shutdown()


@pytest.mark.parametrize("mode", ["fast", "otel"])
def test_sark_families_carry_sarks_label_names(mode: str) -> None:
    inst = Instrumentation(mode)
    record_random(inst, seed=5, count=2000)
    exposed = {f.name: f for f in text_string_to_metric_families(inst.exposition().decode())}
    for name, (kind, labels) in SARK_FAMILIES.items():
        family = exposed[parsed_name(name)]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)
    inst.shutdown()


@pytest.mark.parametrize("thread_safe", [True, False])
def test_fast_mode_exports_the_same_numbers_as_stock_opentelemetry(thread_safe: bool) -> None:
    fast, otel = Instrumentation("fast", thread_safe=thread_safe), Instrumentation("otel")
    record_random(fast, seed=42)
    record_random(otel, seed=42)
    got, want = samples(fast.exposition()), samples(otel.exposition())
    skip = ("process_", "target_info")
    want = {k: v for k, v in want.items() if not k[0].startswith(skip)}
    got = {k: v for k, v in got.items() if not k[0].startswith(skip)}
    assert len(want) > 300
    for key, value in want.items():
        assert got.get(key) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # Fast mode pre-creates every series at zero; nothing else may differ.
    assert all(value == 0 for key, value in got.items() if key not in want)
    fast.shutdown()
    otel.shutdown()


def test_boundaries_are_explicit_from_10us_to_10s_and_le_is_inclusive() -> None:
    inst = Instrumentation("fast")
    bound = inst.authz[("rust", "allow", "hit", ACTION, "docs-mcp")]
    bound.observe(0.005)  # exactly on a threshold of sloguard.yaml
    bound.observe(0.0050001)
    bound.observe(0.00004)
    got = samples(inst.exposition())
    labels = (("cache", "hit"), ("decision", "allow"), ("implementation", "rust"))

    def bucket(le: str) -> float:
        return got[(f"{c.AUTHZ_DURATION}_bucket", tuple(sorted((*labels, ("le", le)))))]

    les = sorted(
        float(dict(k[1])["le"])
        for k in got
        if k[0] == f"{c.AUTHZ_DURATION}_bucket" and tuple((a, b) for a, b in k[1] if a != "le") == labels
    )
    assert les[0] == 1e-05 and les[-2] == 10.0 and les[-1] == float("inf")
    assert {0.0005, 0.005} <= set(les)
    assert bucket("2.5e-05") == 0 and bucket("5e-05") == 1
    assert bucket("0.005") == 2 and bucket("0.0075") == 3
    assert got[(f"{c.AUTHZ_DURATION}_count", labels)] == 3
    inst.shutdown()


# SARK's own bucket boundaries (gateway_metrics.py, monitoring/gateway/metrics.py, policy_metrics.py); SARK's
# services/policy adds 0.75 and 7.5 to the policy histogram, which none of SARK's queries name as an le.
SARK_BUCKETS = {
    c.SARK_GATEWAY_AUTHZ_LATENCY: (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    c.SARK_GATEWAY_REQUEST_DURATION: (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    c.SARK_POLICY_DURATION: (0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
}


def test_sark_histograms_have_sarks_boundaries_and_ours() -> None:
    inst = Instrumentation("fast")
    record_random(inst, seed=9, count=500)
    got = samples(inst.exposition())
    for name, sark in SARK_BUCKETS.items():
        les = {float(dict(ls)["le"]) for n, ls in got if n == f"{name}_bucket"}
        assert set(sark) <= les, name
        assert set(c.LATENCY_BUCKETS) | {float("inf")} == les, name
    inst.shutdown()


def test_sark_families_are_projections_of_what_is_recorded() -> None:
    """Each SARK family counts the events the docs say, derived from the same recordings as the contract's."""
    inst = Instrumentation("fast", policy="mcp.gateway")
    inst.authz[("rust", "allow", "hit", ACTION, "docs-mcp")].observe(0.0001)
    inst.authz[("rust", "deny", "miss", "gateway:server:list", "")].observe(0.0002)
    inst.authz[("python", "error", "miss", ACTION, "docs-mcp")].observe(0.003)
    inst.opa[("rust", "deny", "gateway:server:list")].observe(0.0001)
    inst.opa[("python", "error", ACTION)].observe(0.002)
    inst.cache[("rust", "get", "hit", ACTION)].observe(1e-7)
    inst.cache[("rust", "get", "miss", "gateway:server:list")].observe(1e-7)
    inst.cache[("python", "get", "miss", ACTION)].observe(0.0002)
    inst.cache[("python", "get", "error", ACTION)].observe(0.0002)
    inst.cache[("rust", "set", "ok", "gateway:server:list")].observe(1e-6)
    inst.opa_error("python", c.ERROR_UNAVAILABLE)
    inst.requests[(c.STATUS_SUCCESS, "alice", "get_page")].inc()
    inst.requests[(c.STATUS_ERROR, c.USER_ANONYMOUS, "")].inc()
    inst.in_flight.inc()
    got = samples(inst.exposition())

    # The gateway answered deny for the policy error (fail closed).
    assert total(got, c.SARK_GATEWAY_AUTHZ_REQUESTS, decision="deny") == 2
    assert total(got, c.SARK_GATEWAY_AUTHZ_REQUESTS, decision="allow", server="docs-mcp", action=ACTION) == 1
    assert total(got, c.SARK_GATEWAY_AUTHZ_REQUESTS, server="") == 1
    assert total(got, f"{c.SARK_GATEWAY_AUTHZ_LATENCY}_count") == 3
    assert total(got, f"{c.SARK_GATEWAY_REQUEST_DURATION}_count", method="POST", endpoint=c.AUTHORIZE_PATH) == 3
    assert total(got, c.SARK_GATEWAY_CACHE_HITS) == 1 and total(got, c.SARK_GATEWAY_CACHE_MISSES) == 2
    assert total(got, c.SARK_GATEWAY_CACHE_OPERATIONS, cache_name="redis", result="error") == 1
    assert total(got, c.SARK_GATEWAY_CACHE_OPERATIONS, cache_name="cachebox", operation="set", result="ok") == 1
    assert total(got, c.SARK_GATEWAY_REQUESTS, status="success", user="alice", tool="get_page") == 1
    assert total(got, c.SARK_GATEWAY_REQUESTS, status="error", user="anonymous", tool="") == 1
    assert total(got, c.SARK_GATEWAY_IN_FLIGHT) == 1
    # Policy families: decisions the policy made (cache hits included), never the fail-closed error.
    assert total(got, c.SARK_POLICY_DECISIONS, policy_name="mcp.gateway") == 2
    assert total(got, c.SARK_POLICY_DECISIONS, decision="allow", resource_type="tool") == 1
    assert total(got, c.SARK_POLICY_DECISIONS, decision="deny", resource_type="server") == 1
    assert total(got, c.SARK_POLICY_EVALUATIONS, sensitivity_level=c.SENSITIVITY_UNKNOWN) == 2
    assert total(got, c.SARK_POLICY_EVALUATIONS, result="deny", action="gateway:server:list") == 1
    # Its duration: each successful evaluation (cache_status="miss") and each cache hit (cache_status="hit").
    assert total(got, f"{c.SARK_POLICY_DURATION}_count", cache_status="miss") == 1
    assert total(got, f"{c.SARK_POLICY_DURATION}_count", cache_status="hit", action=ACTION) == 1
    assert total(got, c.SARK_POLICY_CACHE_HITS, policy_name="mcp.gateway") == 1
    assert total(got, c.SARK_POLICY_CACHE_MISSES, sensitivity_level=c.SENSITIVITY_UNKNOWN) == 2
    # An unreachable policy server is SARK's opa_connection; sloguard's own family keeps its error_type.
    assert total(got, c.SARK_POLICY_ERRORS, error_type=c.SARK_ERROR_OPA_CONNECTION) == 1
    assert total(got, c.OPA_ERRORS, error_type=c.ERROR_UNAVAILABLE) == 1
    # opa_evaluation_total gains SARK's result label; a failed evaluation is result="error".
    assert total(got, c.OPA_EVALUATIONS, result="deny") == 1 and total(got, c.OPA_EVALUATIONS, result="error") == 1
    inst.shutdown()


def test_labels_from_requests_keep_their_first_values_then_other() -> None:
    inst = Instrumentation("fast")
    for i in range(c.OPEN_LABEL_LIMIT + 20):
        inst.authz[("rust", "allow", "miss", ACTION, f"server-{i}")].observe(0.001)
        inst.requests[(c.STATUS_SUCCESS, f"user-{i}", "get_page")].inc()
    got = samples(inst.exposition())
    servers = {dict(ls)["server"] for n, ls in got if n == c.SARK_GATEWAY_AUTHZ_REQUESTS}
    users = {dict(ls)["user"] for n, ls in got if n == c.SARK_GATEWAY_REQUESTS}
    assert servers == {f"server-{i}" for i in range(c.OPEN_LABEL_LIMIT)} | {c.OTHER_LABEL_VALUE}
    assert users == {f"user-{i}" for i in range(c.OPEN_LABEL_LIMIT)} | {c.OTHER_LABEL_VALUE}
    assert total(got, c.SARK_GATEWAY_AUTHZ_REQUESTS, server=c.OTHER_LABEL_VALUE) == 20
    assert total(got, c.SARK_GATEWAY_REQUESTS, user=c.OTHER_LABEL_VALUE) == 20
    inst.shutdown()


def test_recorders_for_values_past_the_limit_are_remembered_only_up_to_a_bound() -> None:
    inst = Instrumentation("fast")
    seen = c.OPEN_LABEL_LIMIT + 6000
    for i in range(seen):
        inst.authz[("rust", "allow", "miss", ACTION, f"server-{i}")].observe(0.001)
    inst.authz[("rust", "allow", "miss", ACTION, "x" * 100_000)].observe(0.001)
    # A busy "other" stays a dict lookup, yet a caller cannot grow memory without bound.
    assert c.OPEN_LABEL_LIMIT + 1000 < len(inst.authz) < seen
    assert ("rust", "allow", "miss", ACTION, "x" * 100_000) not in inst.authz
    got = samples(inst.exposition())
    assert total(got, c.SARK_GATEWAY_AUTHZ_REQUESTS, server=c.OTHER_LABEL_VALUE) == 6001
    inst.shutdown()


def test_a_recorder_key_of_the_wrong_shape_is_refused() -> None:
    inst = Instrumentation("fast")
    with pytest.raises(KeyError, match="authz"):
        inst.authz[("rust", "allow", "hit")].observe(0.1)
    inst.shutdown()


def test_policy_name_and_resource_type_come_from_the_decision_path_and_action() -> None:
    assert policy_name("data.sark.gateway.decision") == "sark.gateway.decision"
    assert policy_name("data.mcp.gateway") == "mcp.gateway"
    assert resource_type("gateway:tool:invoke") == "tool" and resource_type("gateway:server:list") == "server"
    assert resource_type("invoke") == c.OTHER_LABEL_VALUE


def test_off_mode_records_nothing_but_serves_process_metrics() -> None:
    inst = Instrumentation("off")
    record_random(inst, seed=3, count=200)
    names = {name for name, _ in samples(inst.exposition())}
    assert "process_resident_memory_bytes" in names
    assert not any(n.startswith(("sark_", "opa_", "cache_")) for n in names)


def test_every_known_series_is_exported_from_zero() -> None:
    inst = Instrumentation("fast")
    inst.set_rollout(c.FLAG_RUST_CACHE, 12.5)
    got = samples(inst.exposition())
    assert got[(c.FLAG_ROLLOUT, (("feature", c.FLAG_RUST_CACHE),))] == 12.5
    # Counters start at zero so rate() has a first sample.
    assert got[(c.AUTHZ_REQUESTS, (("decision", "error"), ("implementation", "python")))] == 0
    assert got[(c.SARK_GATEWAY_CACHE_HITS, ())] == 0 and got[(c.SARK_GATEWAY_IN_FLIGHT, ())] == 0
    assert got[(c.SARK_POLICY_ERRORS, (("error_type", c.SARK_ERROR_OPA_CONNECTION),))] == 0
    bypass = (("cache", "bypass"), ("decision", "deny"), ("implementation", "rust"))
    assert got[(f"{c.AUTHZ_DURATION}_count", bypass)] == 0
    # A label whose values come from requests (server, user, tool) has no series until a request brings one.
    assert not any(n == c.SARK_GATEWAY_AUTHZ_REQUESTS for n, _ in got)
    inst.shutdown()


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        Instrumentation("prometheus")
