"""An OPA-compatible policy server backed by the same Rego engine as the Rust path.

It speaks the part of OPA's REST API that SARK's Python path uses, as OPA answers it, so
real OPA (`opa run --server POLICIES`) can replace it:
  POST /v1/data/{path}     {"input": ...} -> 200 {"result": <value>}; 200 {} when undefined;
                           without "input" (or with "input": null) the input is undefined and
                           the answer carries OPA's {"warning": {"code": "api_usage_warning"}}
  GET  /v1/data/{path}     the same without input (and without the warning)
  PUT  /v1/policies/{id}   a Rego module as the raw body -> {} (400 when it does not compile)
  GET  /v1/policies        {"result": [{"id", "raw"}]}
  GET  /health             200 {}
The path names a rule, a package (an object of its rules' values, sets as sorted arrays) or
data. Errors use OPA's shape: 400 {"code": "invalid_parameter"} for a bad body, 500
{"code": "internal_error", "message"} for an evaluation error; never a traceback. Errors are
logged once per kind per interval.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sloguard.demo.app import serve
from sloguard.demo.engine import UNDEFINED, PolicyEngine, PolicyError
from sloguard.demo.ratelog import RateLimitedLog
from sloguard.errors import SloguardError

# starlette is imported inside the functions that use it, loaded only when the server runs.
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
# OPA's warning when a POST names no input (server/types: CodeAPIUsageWarn, MsgInputKeyMissing).
INPUT_MISSING_WARNING = {"code": "api_usage_warning", "message": "'input' key missing from the request"}


def _json(content: Any, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(_DUMPS(content), status_code=status, media_type="application/json")


def _error(code: str, message: str, status: int) -> Any:
    return _json({"code": code, "message": message}, status)


def read_input(raw: bytes) -> tuple[str | None, str | None]:
    """(the input as JSON text or None when there is none, a 400 message or None) of a POST body."""
    if not raw.strip():
        return None, None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return None, f"body contains malformed input document: {exc}"
    if not isinstance(body, dict):
        return None, "body contains malformed input document: the body must be a JSON object"
    # As in OPA (Go decodes {"input": null} into a nil pointer), a null input is no input.
    value = body.get("input")
    return (None if value is None else _DUMPS(value)), None


def create_policy_app(engine: PolicyEngine, log: RateLimitedLog | None = None) -> Any:
    """The Starlette app of the policy server."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    errors = log or RateLimitedLog()

    async def data(request: Request) -> Response:
        segments = [s for s in request.path_params.get("path", "").split("/") if s]
        input_json: str | None = None
        if request.method == "POST":
            input_json, problem = read_input(await request.body())
            if problem is not None:
                return _error("invalid_parameter", problem, 400)
        try:
            result = engine.query(segments, input_json)
        except PolicyError as exc:
            errors.log(f"policy server: evaluation error ({exc.error_type})", f"/v1/data/{'/'.join(segments)}: {exc}")
            return _error("internal_error", str(exc), 500)
        except Exception as exc:  # never a traceback per request: one line per interval, and OPA's 500
            errors.log("policy server: internal error", f"/v1/data/{'/'.join(segments)}: {exc!r}")
            return _error("internal_error", f"{type(exc).__name__}: {exc}", 500)
        content: dict[str, Any] = {} if result is UNDEFINED else {"result": result}
        if request.method == "POST" and input_json is None:
            content["warning"] = INPUT_MISSING_WARNING
        return _json(content)

    async def put_policy(request: Request) -> Response:
        policy_id = request.path_params["id"]
        text = (await request.body()).decode("utf-8", errors="replace")
        try:
            engine.add_policy(policy_id, text)
        except SloguardError as exc:
            return _error("invalid_parameter", str(exc), 400)
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
