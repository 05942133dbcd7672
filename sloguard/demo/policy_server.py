"""An OPA-compatible policy server backed by the same Rego engine as the Rust path.

It speaks the part of OPA's REST API that SARK's Python path uses, so real OPA
(`opa run --server POLICIES`) can replace it:
  POST /v1/data/{path}     {"input": ...} -> {"result": ...} (no "result" when undefined)
  GET  /v1/data/{path}     the same without input
  PUT  /v1/policies/{id}   a Rego module as the raw body -> {} (400 when it does not compile)
  GET  /v1/policies        {"result": [{"id", "raw"}]}
  GET  /health             200 {}
Errors use OPA's shape: {"code": "internal_error" | "invalid_parameter", "message": ...}.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sloguard.demo.app import serve
from sloguard.demo.engine import PolicyEngine, PolicyError
from sloguard.errors import SloguardError

# starlette is imported inside the functions that use it, loaded only when the server runs.
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


def _json(content: Any, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(_DUMPS(content), status_code=status, media_type="application/json")


def create_policy_app(engine: PolicyEngine) -> Any:
    """The Starlette app of the policy server."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def data(request: Request) -> Response:
        segments = [s for s in request.path_params.get("path", "").split("/") if s]
        input_json = "null"
        if request.method == "POST":
            raw = await request.body()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    return _json({"code": "invalid_parameter", "message": f"body is not JSON: {exc}"}, 400)
                if not isinstance(body, dict):
                    return _json({"code": "invalid_parameter", "message": "body must be an object"}, 400)
                if "input" in body:
                    input_json = _DUMPS(body["input"])
        try:
            result = engine.query(segments, input_json)
        except PolicyError as exc:
            return _json({"code": "internal_error", "message": str(exc)}, 500)
        return _json({} if result is None else {"result": result})

    async def put_policy(request: Request) -> Response:
        policy_id = request.path_params["id"]
        text = (await request.body()).decode("utf-8", errors="replace")
        try:
            engine.add_policy(policy_id, text)
        except SloguardError as exc:
            return _json({"code": "invalid_parameter", "message": str(exc)}, 400)
        return _json({})

    async def list_policies(request: Request) -> Response:
        return _json({"result": [{"id": pid, "raw": raw} for pid, raw in engine.policies.items()]})

    async def health(request: Request) -> Response:
        return _json({})

    routes = [
        Route("/v1/data", data, methods=["GET", "POST"]),
        Route("/v1/data/{path:path}", data, methods=["GET", "POST"]),
        Route("/v1/policies", list_policies, methods=["GET"]),
        Route("/v1/policies/{id:path}", put_policy, methods=["PUT"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app


def run_policy_server(host: str, port: int, policies: str | None, decision: str) -> None:
    """Load a bundle and serve it (one uvicorn worker, like OPA's single process)."""
    engine = PolicyEngine.from_directory(policies, decision)
    print(f"sloguard demo policy-server: http://{host}:{port} ({len(engine.policies)} policies)", file=sys.stderr,
          flush=True)  # fmt: skip
    serve(create_policy_app(engine), host, port)
