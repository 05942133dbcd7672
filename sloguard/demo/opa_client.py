"""The Python path's policy client: OPA's REST Data API over pooled HTTP connections."""

from __future__ import annotations

import json
from typing import Any

from sloguard import conventions as c
from sloguard.demo.engine import PolicyError, decision_rule


def data_url_path(decision: str) -> str:
    """``data.sark.gateway.decision`` -> ``/v1/data/sark/gateway/decision``."""
    rule = decision_rule(decision)
    return "/v1/data/" + rule.removeprefix("data").lstrip(".").replace(".", "/")


def _message(response: Any) -> str:
    """OPA's error message ({"code", "message"}) or the start of the body."""
    try:
        body = json.loads(response.content)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"])
    except ValueError:
        pass
    return str(response.text[:300])


class OpaClient:
    """POST /v1/data/<path> {"input": ...} -> the decision document, through one pooled client."""

    def __init__(
        self,
        base_url: str,
        decision: str = c.DEMO_DEFAULT_DECISION,
        *,
        timeout: float = 2.0,
        pool: int = 64,
        transport: Any = None,
    ) -> None:
        import httpx

        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.path = data_url_path(decision)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            headers={"Content-Type": "application/json"},
            transport=transport,  # e.g. httpx.ASGITransport(policy_app) to run the server in-process
        )

    async def evaluate(self, input_json: str) -> Any:
        """The decision document for an input (its JSON text); raises PolicyError; None = undefined."""
        httpx = self._httpx
        body = '{"input":' + input_json + "}"
        try:
            response = await self._client.post(self.path, content=body)
        except httpx.TimeoutException as exc:
            raise PolicyError(c.ERROR_TIMEOUT, f"policy server timed out: {exc}") from None
        except httpx.HTTPError as exc:
            raise PolicyError(c.ERROR_UNAVAILABLE, f"policy server unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise PolicyError(c.ERROR_POLICY, f"policy server answered {response.status_code}: {_message(response)}")
        try:
            payload = json.loads(response.content)
        except ValueError:
            raise PolicyError(c.ERROR_INVALID, "policy server answered invalid JSON") from None
        # OPA omits "result" when the document is undefined.
        return payload.get("result") if isinstance(payload, dict) else None

    async def healthy(self) -> bool:
        """Whether GET /health answers 200."""
        try:
            response = await self._client.get("/health", timeout=1.0)
        except self._httpx.HTTPError:
            return False
        return response.status_code == 200

    async def close(self) -> None:
        """Close the pool."""
        await self._client.aclose()
