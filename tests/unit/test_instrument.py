"""sloguard.instrument: the metric contract, explicit boundaries, and fast == stock OpenTelemetry."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("opentelemetry.exporter.prometheus")

from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.instrument import Instrumentation

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


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition keyed by (name, sorted labels)."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def record_random(inst: Instrumentation, seed: int, count: int = 3000) -> None:
    """The same pseudo-random recordings for any instrumentation."""
    rng = random.Random(seed)
    bounds = c.LATENCY_BUCKETS
    for _ in range(count):
        # Boundary values on purpose: le is inclusive, the classic off-by-one of bucketing.
        value = rng.choice(bounds) if rng.random() < 0.3 else rng.uniform(0, 0.02) ** 1.5
        kind = rng.randrange(6)
        impl = rng.choice(c.IMPLEMENTATIONS)
        if kind == 0:
            inst.authz[(impl, rng.choice(c.DECISIONS), rng.choice(c.CACHE_STATES))].observe(value)
        elif kind == 1:
            inst.opa[impl].observe(value)
        elif kind == 2:
            op = rng.choice(c.CACHE_OPS)
            result = rng.choice({"get": ("hit", "miss", "error"), "set": ("ok", "error"), "delete": ("ok",)}[op])
            inst.cache[(impl, op, result)].observe(value)
        elif kind == 3:
            inst.flag[(rng.choice(c.FEATURE_FLAGS), impl)].inc()
        elif kind == 4:
            inst.opa_error(impl, rng.choice(c.ERROR_TYPES))
        else:
            inst.fallback(rng.choice(c.FEATURE_FLAGS), rng.choice(c.ERROR_TYPES))
    inst.set_rollout(c.FLAG_RUST_OPA, 37.5)


@pytest.mark.parametrize("mode", ["fast", "otel"])
def test_exposition_carries_exactly_the_contract_names(mode: str) -> None:
    inst = Instrumentation(mode)
    record_random(inst, seed=1, count=500)
    families = {f.name: f.type for f in text_string_to_metric_families(inst.exposition().decode())}
    ours = {name: kind for name, kind in families.items() if not name.startswith("process_") and name != "target_info"}
    assert ours == CONTRACT_FAMILIES
    assert "process_resident_memory_bytes" in families
    names = {name for name, _ in samples(inst.exposition())}
    assert {f"{c.AUTHZ_DURATION}_bucket", c.AUTHZ_REQUESTS, c.OPA_EVALUATIONS, c.FLAG_ROLLOUT} <= names
    assert not any(n.endswith(("_ratio", "_1", "_percent")) for n in names)
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
    bound = inst.authz[("rust", "allow", "hit")]
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


def test_off_mode_records_nothing_but_serves_process_metrics() -> None:
    inst = Instrumentation("off")
    record_random(inst, seed=3, count=200)
    names = {name for name, _ in samples(inst.exposition())}
    assert "process_resident_memory_bytes" in names
    assert not any(n.startswith(("sark_", "opa_", "cache_")) for n in names)


def test_every_label_combination_is_pre_bound() -> None:
    inst = Instrumentation("fast")
    assert len(inst.authz) == len(c.IMPLEMENTATIONS) * len(c.DECISIONS) * len(c.CACHE_STATES)
    assert set(inst.opa) == set(c.IMPLEMENTATIONS)
    inst.set_rollout(c.FLAG_RUST_CACHE, 12.5)
    got = samples(inst.exposition())
    assert got[(c.FLAG_ROLLOUT, (("feature", c.FLAG_RUST_CACHE),))] == 12.5
    # Counters start at zero so rate() has a first sample.
    assert got[(c.AUTHZ_REQUESTS, (("decision", "error"), ("implementation", "python")))] == 0
    inst.shutdown()


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        Instrumentation("prometheus")
