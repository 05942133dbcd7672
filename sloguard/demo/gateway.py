"""The decision flow of SARK's gateway: route, look up the cache, evaluate, cache, record.

Rust path: the policy is evaluated in-process by regorus (``PolicyEngine``) and decisions are
cached in-process by cachebox (``RustCache``). Python path: the policy is evaluated by an
OPA-compatible server over HTTP (``OpaClient``) and decisions are cached in Redis
(``RedisCache``). The flags ``rust_opa`` (evaluation) and ``rust_cache`` (cache) route each
user independently. A failing Rust side falls back to Python and is counted; a policy that
fails denies (fail closed) with decision="error"; an undefined decision, or one without
``allow``, is a plain deny. Both are logged once per kind per interval.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from sloguard import conventions as c
from sloguard.demo.cache import CacheUnavailable, RedisCache, RustCache
from sloguard.demo.decision import Decision, Identity, PolicyInput, build_input, error_decision, parse_decision
from sloguard.demo.engine import PolicyEngine, PolicyError
from sloguard.demo.faults import Faults
from sloguard.demo.opa_client import OpaClient
from sloguard.demo.ratelog import RateLimitedLog
from sloguard.demo.routing import Router
from sloguard.instrument import Instrumentation

RUST, PYTHON = c.IMPL_RUST, c.IMPL_PYTHON


class RustFailure(Exception):
    """The Rust side of a flag failed (not a policy error); the request falls back to Python."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class Outcome:
    """What the gateway answers and how it got there."""

    decision: Decision
    implementation: str  # the evaluation path of the request (after any fallback)
    cache: str  # hit, miss or bypass


class Gateway:
    """Both decision paths behind one ``authorize``; every step is measured."""

    def __init__(
        self,
        engine: PolicyEngine,
        opa: OpaClient | None,
        rust_cache: RustCache,
        redis_cache: RedisCache | None,
        router: Router,
        faults: Faults,
        instrumentation: Instrumentation,
    ) -> None:
        self.engine = engine
        self.opa = opa
        self.rust_cache = rust_cache
        self.redis_cache = redis_cache
        self.router = router
        self.faults = faults
        self.inst = instrumentation
        self.log = RateLimitedLog()  # policy errors and undecided denies: one line per kind per interval
        for feature in c.FEATURE_FLAGS:
            instrumentation.set_rollout(feature, router.effective(feature))

    def set_rollout(self, feature: str, percentage: float) -> None:
        """Change a flag's percentage and its gauge."""
        self.router.set(feature, percentage)
        for name in c.FEATURE_FLAGS:
            self.inst.set_rollout(name, self.router.effective(name))

    # -- policy evaluation ---------------------------------------------------------------------

    async def evaluate(self, implementation: str, policy_input: PolicyInput) -> Decision:
        """One evaluation on one path, measured; never raises PolicyError (fails closed instead).

        Raises RustFailure when the Rust side itself fails, so that the caller can fall back.
        """
        faults = self.faults
        action = policy_input.document["action"]
        start = perf_counter()
        try:
            if faults.latency:
                delay = faults.latency.get(implementation)
                if delay:
                    await asyncio.sleep(delay)
            if implementation == RUST:
                if faults.panics and faults.panic(c.FLAG_RUST_OPA):
                    raise RustFailure(c.ERROR_INJECTED, "injected Rust engine failure")
                try:
                    document = self.engine.evaluate(policy_input.json)
                except PolicyError:
                    raise
                except Exception as exc:  # a Rust-side crash, not a policy outcome
                    raise RustFailure(c.ERROR_INTERNAL, repr(exc)) from exc
            else:
                if self.opa is None:
                    raise PolicyError(c.ERROR_UNAVAILABLE, "no policy server configured")
                document = await self.opa.evaluate(policy_input.json)
            if faults.errors and faults.fail(implementation):
                raise PolicyError(c.ERROR_INJECTED, "injected evaluation error")
            decision = parse_decision(document)
            if decision.warning:
                self.log.warning(f"{implementation} path: {decision.warning} decision", decision.reason)
        except PolicyError as exc:
            self.inst.opa_error(implementation, exc.error_type)
            self.log.log(f"{implementation} path: policy error ({exc.error_type})", f"{exc}; denied")
            decision = error_decision(exc.error_type, str(exc))
        except RustFailure:
            self.inst.opa[(implementation, "error", action)].observe(perf_counter() - start)
            raise
        self.inst.opa[(implementation, decision.label, action)].observe(perf_counter() - start)
        return decision

    async def _evaluate_routed(self, implementation: str, policy_input: PolicyInput) -> tuple[str, Decision]:
        """Evaluate on the routed path; a Rust failure falls back to Python and counts."""
        if implementation == RUST:
            try:
                return RUST, await self.evaluate(RUST, policy_input)
            except RustFailure as exc:
                self.inst.fallback(c.FLAG_RUST_OPA, exc.error_type)
        return PYTHON, await self.evaluate(PYTHON, policy_input)

    # -- cache ---------------------------------------------------------------------------------

    async def cache_get(self, implementation: str, key: str, action: str) -> tuple[str, Decision | None, bool]:
        """(cache implementation used, cached decision or None, whether the cache was usable)."""
        inst = self.inst
        if implementation == RUST:
            if not (self.faults.panics and self.faults.panic(c.FLAG_RUST_CACHE)):
                start = perf_counter()
                found = self.rust_cache.get(key)
                inst.cache[(RUST, "get", "miss" if found is None else "hit", action)].observe(perf_counter() - start)
                return RUST, found, True
            inst.fallback(c.FLAG_RUST_CACHE, c.ERROR_INJECTED)
        if self.redis_cache is None:
            return PYTHON, None, False
        start = perf_counter()
        try:
            found = await self.redis_cache.get(key)
        except CacheUnavailable:
            inst.cache[(PYTHON, "get", "error", action)].observe(perf_counter() - start)
            return PYTHON, None, False
        inst.cache[(PYTHON, "get", "miss" if found is None else "hit", action)].observe(perf_counter() - start)
        return PYTHON, found, True

    async def cache_set(self, implementation: str, key: str, decision: Decision, action: str) -> bool:
        """Store a decision for its TTL; False when the cache could not take it."""
        start = perf_counter()
        if implementation == RUST:
            self.rust_cache.set(key, decision, decision.cache_ttl)
            self.inst.cache[(RUST, "set", "ok", action)].observe(perf_counter() - start)
            return True
        if self.redis_cache is None:
            return False
        try:
            await self.redis_cache.set(key, decision, decision.cache_ttl)
        except CacheUnavailable:
            self.inst.cache[(PYTHON, "set", "error", action)].observe(perf_counter() - start)
            return False
        self.inst.cache[(PYTHON, "set", "ok", action)].observe(perf_counter() - start)
        return True

    # -- the whole flow ------------------------------------------------------------------------

    async def authorize(
        self,
        identity: Identity,
        action: str,
        server: str | None,
        tool: str | None,
        parameters: dict[str, Any],
        metadata: dict[str, Any],
        start: float | None = None,
    ) -> Outcome:
        """Decide one request; ``start`` (perf_counter) lets the caller include token and body parsing."""
        if start is None:
            start = perf_counter()
        policy_input = build_input(identity, action, server, tool, parameters, metadata, time.time())
        user = identity.user_id
        router = self.router
        engine_impl = router.assign(c.FLAG_RUST_OPA, user)
        cache_impl = router.assign(c.FLAG_RUST_CACHE, user)
        self.inst.flag[(c.FLAG_RUST_OPA, engine_impl)].inc()
        self.inst.flag[(c.FLAG_RUST_CACHE, cache_impl)].inc()

        key = policy_input.cache_key
        cache_impl, cached, usable = await self.cache_get(cache_impl, key, action)
        if cached is not None:
            implementation, decision, state = engine_impl, cached, "hit"
        else:
            implementation, decision = await self._evaluate_routed(engine_impl, policy_input)
            if decision.error:
                state = "miss"  # looked up and evaluated; a failed decision is never cached
            elif decision.cache_ttl <= 0 or not usable:
                state = "bypass"  # never cached (critical) or the cache is down
            else:
                state = "miss" if await self.cache_set(cache_impl, key, decision, action) else "bypass"
        if self.faults.leak:
            self.faults.leak_for(implementation)
        self.inst.authz[(implementation, decision.label, state, action, server or "")].observe(perf_counter() - start)
        return Outcome(decision, implementation, state)

    async def clear_caches(self) -> dict[str, Any]:
        """Empty both decision caches (admin API, benchmarks)."""
        rust = len(self.rust_cache)
        self.rust_cache.clear()
        redis: int | None = None
        if self.redis_cache is not None:
            try:
                redis = await self.redis_cache.clear(c.DEMO_CACHE_PREFIX)
            except CacheUnavailable:
                redis = None
        return {"rust": rust, "python": redis}

    async def close(self) -> None:
        """Close pooled connections."""
        if self.opa is not None:
            await self.opa.close()
        if self.redis_cache is not None:
            await self.redis_cache.close()
