"""Routing, faults, tokens and the cache key of the reference service."""

from __future__ import annotations

import binascii
import time

import pytest

pytest.importorskip("jwt")

from hypothesis import given
from hypothesis import strategies as st

from sloguard import conventions as c
from sloguard.demo.decision import Identity, RequestError, build_input, parse_request
from sloguard.demo.faults import Faults, parse_bytes, parse_duration, parse_fault, parse_ratio
from sloguard.demo.routing import Router, bucket, rust_enabled_from_env
from sloguard.demo.tokens import TokenError, TokenVerifier, issue_token
from sloguard.errors import UsageError

# -- routing -------------------------------------------------------------------------------------


def test_assignment_is_stable_per_flag_and_follows_the_percentage() -> None:
    router = Router(25, 75, rust_enabled=True)
    users = [f"user-{i}" for i in range(2000)]
    first = [router.assign(c.FLAG_RUST_OPA, u) for u in users]
    assert first == [router.assign(c.FLAG_RUST_OPA, u) for u in users]
    share = first.count(c.IMPL_RUST) / len(users)
    assert 0.20 < share < 0.30
    cache_share = [router.assign(c.FLAG_RUST_CACHE, u) for u in users].count(c.IMPL_RUST) / len(users)
    assert 0.70 < cache_share < 0.80
    # Raising the percentage only moves users from Python to Rust, never back.
    router.set(c.FLAG_RUST_OPA, 50)
    moved = [router.assign(c.FLAG_RUST_OPA, u) for u, a in zip(users, first, strict=True) if a == c.IMPL_RUST]
    assert set(moved) == {c.IMPL_RUST}
    # The bucket is CRC-32 of "flag:user": the same in every process and Python version.
    assert bucket("rust_opa", "alice") == binascii.crc32(b"rust_opa:alice") % 100


def test_rust_enabled_false_routes_everyone_to_python() -> None:
    assert rust_enabled_from_env("false") is False and rust_enabled_from_env("0") is False
    assert rust_enabled_from_env("true") is True and rust_enabled_from_env("") is True
    router = Router(100, 100, rust_enabled=False)
    assert {router.assign(f, "u") for f in c.FEATURE_FLAGS} == {c.IMPL_PYTHON}
    assert router.state()["effective"] == {c.FLAG_RUST_OPA: 0.0, c.FLAG_RUST_CACHE: 0.0}


def test_bad_rollouts_are_rejected() -> None:
    router = Router()
    with pytest.raises(UsageError):
        router.set(c.FLAG_RUST_OPA, 101)
    with pytest.raises(UsageError):
        router.set("rust_everything", 10)


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("20ms", 0.02), ("500us", 0.0005), ("1.5s", 1.5), ("0.25", 0.25)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_ratio_and_bytes() -> None:
    assert parse_ratio("5%") == pytest.approx(0.05) and parse_ratio("0.5") == 0.5
    assert parse_bytes("64KiB") == 65536 and parse_bytes("1MiB") == 1048576 and parse_bytes("100") == 100
    for bad in ("150%", "-1", "x"):
        with pytest.raises(UsageError):
            parse_ratio(bad)
    with pytest.raises(UsageError):
        parse_bytes("lots")


def test_parse_fault_targets() -> None:
    assert parse_fault("latency", "rust:20ms") == ("rust", pytest.approx(0.02))
    assert parse_fault("panics", "rust_opa:10%") == ("rust_opa", pytest.approx(0.1))
    for kind, spec in (("latency", "go:1ms"), ("errors", "rust"), ("panics", "rust:10%")):
        with pytest.raises(UsageError):
            parse_fault(kind, spec)


def test_faults_update_state_and_clear() -> None:
    faults = Faults()
    faults.update({"latency": {"rust": "20ms"}, "errors": {"python": "100%"}, "leak": {"rust": "1KiB"}})
    assert faults.fail(c.IMPL_PYTHON) and not faults.fail(c.IMPL_RUST)
    faults.leak_for(c.IMPL_RUST)
    faults.leak_for(c.IMPL_PYTHON)
    state = faults.state()
    assert state["latency"] == {"rust": pytest.approx(0.02)} and state["leaked_bytes"] == 1024
    with pytest.raises(UsageError):
        faults.update({"meteor": {"rust": 1}})
    faults.clear()
    assert faults.state() == {"latency": {}, "errors": {}, "leak": {}, "panics": {}, "leaked_bytes": 0}


# -- tokens --------------------------------------------------------------------------------------


def test_token_round_trip_and_rejections() -> None:
    verifier = TokenVerifier("k" * 32)
    token = issue_token("alice", ["analyst", "developer"], "acme", secret="k" * 32)
    identity = verifier.verify(f"Bearer {token}")
    assert identity == Identity("alice", ("analyst", "developer"), "acme")
    assert verifier.verify(f"Bearer {token}") is identity  # remembered until expiry
    other = issue_token("alice", ["admin"], "acme", secret="x" * 32)
    expired = issue_token("bob", [], "acme", secret="k" * 32, ttl=-10)
    for header in (None, "", "Basic abc", f"Bearer {other}", f"Bearer {expired}", "Bearer not.a.jwt"):
        with pytest.raises(TokenError):
            verifier.verify(header)


def test_cached_tokens_still_expire() -> None:
    verifier = TokenVerifier("k" * 32)
    token = issue_token("carol", [], "acme", secret="k" * 32, ttl=1)
    verifier.verify(f"Bearer {token}")
    time.sleep(2.1)  # exp has one-second resolution
    with pytest.raises(TokenError):
        verifier.verify(f"Bearer {token}")


# -- request and cache key -----------------------------------------------------------------------


def test_parse_request_validates_sarks_shape() -> None:
    assert parse_request({"action": "gateway:server:list"}) == ("gateway:server:list", None, None, {}, {})
    for body in (
        {},
        {"action": "gateway:tool:delete"},
        {"action": "gateway:tool:invoke", "server_name": "s"},
        {"action": "gateway:server:info"},
        [1],
        {"action": "gateway:server:list", "parameters": [1]},
    ):
        with pytest.raises(RequestError):
            parse_request(body)


values = st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.floats(allow_nan=False))
requests = st.fixed_dictionaries(
    {
        "user": st.sampled_from(["u1", "u2"]),
        "roles": st.lists(st.sampled_from(["admin", "analyst", "dev"]), max_size=3, unique=True),
        "tenant": st.sampled_from(["acme", "globex"]),
        "action": st.sampled_from(c.GATEWAY_ACTIONS),
        "server": st.sampled_from([None, "s1", "s2"]),
        "tool": st.sampled_from([None, "t1", "t2"]),
        "parameters": st.dictionaries(st.sampled_from(["a", "b", "query"]), values, max_size=3),
    }
)


def key_of(r: dict, metadata: dict | None = None, timestamp: float = 1.0, shuffle: bool = False) -> str:
    roles = tuple(reversed(r["roles"])) if shuffle else tuple(r["roles"])
    identity = Identity(r["user"], roles, r["tenant"])
    pin = build_input(identity, r["action"], r["server"], r["tool"], r["parameters"], metadata or {}, timestamp)
    return pin.cache_key


@given(requests, requests)
def test_cache_key_differs_exactly_when_a_decision_input_differs(a: dict, b: dict) -> None:
    def canon(r: dict) -> tuple:
        return (r["user"], sorted(r["roles"]), r["tenant"], r["action"], r["server"], r["tool"],
                sorted((k, type(v).__name__, repr(v)) for k, v in r["parameters"].items()))  # fmt: skip

    assert (key_of(a) == key_of(b)) == (canon(a) == canon(b))
    # Role order, metadata and the timestamp are not decision inputs.
    assert key_of(a) == key_of(a, {"request_id": "x"}, 99.0, shuffle=True)
