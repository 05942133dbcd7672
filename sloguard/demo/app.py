"""The reference SARK service: an ASGI app (Starlette on uvicorn) around the gateway.

Endpoints:
  POST /api/v1/gateway/authorize   SARK's request; bearer token -> identity; header X-Sark-Implementation
  GET  /health                     liveness
  GET  /ready                      readiness (503 until the policy server answers)
  GET  /metrics                    Prometheus text (OpenTelemetry exporter + process collector)
  GET|PUT /admin/rollout           flag percentages      (admin bearer token)
  GET|PUT|DELETE /admin/faults     fault injection       (admin bearer token)
  POST /admin/cache/clear          empty both caches     (admin bearer token)
"""

from __future__ import annotations

import contextlib
import hmac
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from sloguard import conventions as c
from sloguard.demo.cache import RedisCache, RustCache
from sloguard.demo.decision import RequestError, parse_request
from sloguard.demo.engine import PolicyEngine
from sloguard.demo.faults import Faults
from sloguard.demo.gateway import Gateway
from sloguard.demo.opa_client import OpaClient
from sloguard.demo.routing import Router
from sloguard.demo.tokens import TokenError, TokenVerifier, admin_token_from_env
from sloguard.errors import SloguardError, UsageError
from sloguard.instrument import Instrumentation
from sloguard.metric_families import policy_name

# starlette, uvicorn and prometheus_client are imported inside the functions that use them, so that
# importing this module (the CLI does, for `sloguard demo serve`) loads them only when the service runs.
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class ServiceSettings:
    """Everything `sloguard demo serve` can set."""

    host: str = "127.0.0.1"
    port: int = c.DEMO_DEFAULT_PORT
    opa_url: str | None = f"http://127.0.0.1:{c.DEMO_DEFAULT_POLICY_PORT}"
    redis_url: str | None = c.DEMO_DEFAULT_REDIS_URL
    policies: str | None = None  # None: the bundled policies
    decision: str = c.DEMO_DEFAULT_DECISION
    rollout_rust_opa: float = 50.0
    rollout_rust_cache: float = 50.0
    rust_enabled: bool | None = None  # None: from $RUST_ENABLED
    admin_token: str | None = None  # None: $SLOGUARD_DEMO_ADMIN_TOKEN or the dev default
    secret: str | None = None  # None: $SLOGUARD_DEMO_SECRET or the dev default
    instrumentation: str = "fast"
    cache_size: int = 100_000
    faults: Faults = field(default_factory=Faults)


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import Response

    return Response(_DUMPS(content), status_code=status, media_type="application/json", headers=headers)


def create_app(settings: ServiceSettings, engine: Any = None, instrumentation: Any = None) -> Any:
    """The Starlette app; ``engine`` (a PolicyEngine) may be passed in already loaded."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if engine is None:
        engine = PolicyEngine.from_directory(settings.policies, settings.decision)
    # One event-loop thread records and exports, so the recorders need no locks.
    inst = instrumentation or Instrumentation(
        settings.instrumentation, thread_safe=False, policy=policy_name(engine.decision)
    )
    requests, in_flight = inst.requests, inst.in_flight
    verifier = TokenVerifier(settings.secret)
    admin_token = admin_token_from_env(settings.admin_token)
    router = Router(settings.rollout_rust_opa, settings.rollout_rust_cache, settings.rust_enabled)
    state: dict[str, Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # Pools belong to the running event loop, so they are made here.
        opa = OpaClient(settings.opa_url, settings.decision) if settings.opa_url else None
        redis = RedisCache(settings.redis_url) if settings.redis_url else None
        gateway = Gateway(engine, opa, RustCache(settings.cache_size), redis, router, settings.faults, inst)
        state["gateway"] = gateway
        try:
            yield
        finally:
            await gateway.close()

    async def authorize(request: Request) -> Response:
        start = perf_counter()
        # SARK's sark_gateway_requests_total and _in_flight: every request, refused ones (401, 422) as "error".
        in_flight.inc()
        status, user, tool = c.STATUS_ERROR, c.USER_ANONYMOUS, ""
        try:
            try:
                identity = verifier.verify(request.headers.get("authorization"))
            except TokenError as exc:
                return _json({"detail": str(exc)}, 401, {"WWW-Authenticate": "Bearer"})
            user = identity.user_id
            try:
                parsed = parse_request(json.loads(await request.body()))
            except (ValueError, RequestError) as exc:
                return _json({"detail": str(exc)}, 422)
            tool = parsed[2] or ""
            outcome = await state["gateway"].authorize(identity, *parsed, start=start)
            decision = outcome.decision
            response = _json(
                {
                    "allow": decision.allow,
                    "reason": decision.reason,
                    "filtered_parameters": decision.filtered_parameters,
                    "cache_ttl": decision.cache_ttl,
                    "audit_id": str(uuid.uuid4()),
                },
                headers={c.HEADER_IMPLEMENTATION: outcome.implementation},
            )
            status = c.STATUS_SUCCESS
            return response
        finally:
            in_flight.dec()
            requests[(status, user, tool)].inc()

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def ready(request: Request) -> Response:
        gateway = state.get("gateway")
        if gateway is None:
            return _json({"ready": False, "reason": "starting"}, 503)
        policy_server = await gateway.opa.healthy() if gateway.opa else None
        redis = await gateway.redis_cache.ping() if gateway.redis_cache else None
        # The Python path cannot decide without its policy server; Redis is optional (bypass).
        ok = policy_server is not False
        body = {
            "ready": ok,
            "engine": {"loaded": True, "decision": engine.decision, "policies": sorted(engine.policies)},
            "policy_server": {"url": settings.opa_url, "up": policy_server},
            "redis": {"url": settings.redis_url, "up": redis},
        }
        return _json(body, 200 if ok else 503)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(inst.exposition(), media_type=CONTENT_TYPE_LATEST)

    def admin_denied(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), admin_token.encode()):
            return _json({"detail": "admin bearer token required"}, 401, {"WWW-Authenticate": "Bearer"})
        return None

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else {}

    async def rollout(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        gateway = state["gateway"]
        if request.method == "PUT":
            try:
                body = await read_json(request)
                if not isinstance(body, dict):
                    raise ValueError('expected an object like {"rust_opa": 50, "rust_cache": 50}')
                updates = {f: body[f] for f in c.FEATURE_FLAGS if f in body}
                if "percentage" in body:  # both flags at once
                    updates = {f: body["percentage"] for f in c.FEATURE_FLAGS} | updates
                unknown = set(body) - set(c.FEATURE_FLAGS) - {"percentage"}
                if unknown or not updates:
                    raise ValueError(f"expected keys {', '.join(c.FEATURE_FLAGS)} or percentage")
                pending = {feature: float(pct) for feature, pct in updates.items()}
                if any(not 0.0 <= pct <= 100.0 for pct in pending.values()):
                    raise ValueError("rollout percentages must be within 0-100")
                for feature, pct in pending.items():  # all valid: apply together
                    gateway.set_rollout(feature, pct)
            except (ValueError, TypeError, SloguardError) as exc:
                return _json({"detail": str(exc)}, 400)
        return _json(router.state())

    async def faults(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        if request.method == "DELETE":
            settings.faults.clear()
        elif request.method == "PUT":
            try:
                settings.faults.update(await read_json(request))
            except (ValueError, SloguardError) as exc:
                return _json({"detail": str(exc)}, 400)
        return _json(settings.faults.state())

    async def clear_cache(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        return _json({"cleared": await state["gateway"].clear_caches()})

    routes = [
        Route(c.AUTHORIZE_PATH, authorize, methods=["POST"]),
        Route(c.HEALTH_PATH, health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(c.ADMIN_ROLLOUT_PATH, rollout, methods=["GET", "PUT"]),
        Route(c.ADMIN_FAULTS_PATH, faults, methods=["GET", "PUT", "DELETE"]),
        Route("/admin/cache/clear", clear_cache, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.instrumentation = inst
    app.state.engine = engine
    app.state.router = router
    app.state.settings = settings
    return app


def rollout_percentages(both: float | None, rust_opa: float | None, rust_cache: float | None
                        ) -> tuple[float, float]:
    """(rust_opa, rust_cache) percentages from --rollout (both flags) and the per-flag options, default 50."""
    default = 50.0 if both is None else float(both)
    return (default if rust_opa is None else float(rust_opa), default if rust_cache is None else float(rust_cache))


def run_service(settings: ServiceSettings) -> None:
    """Load the policies (errors surface before binding), then serve with one uvicorn worker.

    One worker keeps /metrics a single registry and RSS a single process, which is what the
    SLOs (throughput, memory growth) are about.
    """
    engine = PolicyEngine.from_directory(settings.policies, settings.decision)
    app = create_app(settings, engine=engine)
    router = app.state.router
    print(
        f"sloguard demo serve: http://{settings.host}:{settings.port} (policy server {settings.opa_url}, "
        f"redis {settings.redis_url}, rollout rust_opa {router.effective('rust_opa'):g}% "
        f"rust_cache {router.effective('rust_cache'):g}%, instrumentation {settings.instrumentation})",
        file=sys.stderr,
        flush=True,
    )
    serve(app, settings.host, settings.port)


def serve(app: Any, host: str, port: int) -> None:
    """Run uvicorn with uvloop and httptools, no access log."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        workers=1,
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:
        # uvicorn logs the reason (e.g. address in use) and exits during startup.
        if not server.started:
            raise UsageError(f"cannot serve on {host}:{port} (is the port in use?)") from None
        raise
