"""SARK's request, policy input, decision document and decision-cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sloguard import conventions as c
from sloguard.demo.engine import PolicyError

_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class RequestError(ValueError):
    """The authorize request is malformed (HTTP 422)."""


@dataclass(frozen=True)
class Identity:
    """The caller, from the bearer token."""

    user_id: str
    roles: tuple[str, ...]
    tenant: str


@dataclass(frozen=True)
class Decision:
    """A normalised decision; ``error`` marks a fail-closed deny."""

    allow: bool
    reason: str = ""
    filtered_parameters: dict[str, Any] = field(default_factory=dict)
    cache_ttl: int = 0
    error: bool = False

    @property
    def label(self) -> str:
        """The value of the ``decision`` label: allow, deny or error."""
        if self.error:
            return "error"
        return "allow" if self.allow else "deny"

    def to_json(self) -> str:
        """The cached form (Redis)."""
        return _DUMPS(
            {
                "allow": self.allow,
                "reason": self.reason,
                "filtered_parameters": self.filtered_parameters,
                "cache_ttl": self.cache_ttl,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Decision:
        """Read the cached form back."""
        return parse_decision(json.loads(text))


def error_decision(error_type: str, message: str) -> Decision:
    """The fail-closed answer when a decision could not be made."""
    return Decision(allow=False, reason=f"policy evaluation failed ({error_type}): {message}"[:500], error=True)


def parse_decision(document: Any) -> Decision:
    """Validate a decision document: an object with a boolean ``allow``; raises PolicyError."""
    if not isinstance(document, dict):
        if document is None:
            raise PolicyError(c.ERROR_UNDEFINED, "the decision is undefined for this input")
        raise PolicyError(c.ERROR_INVALID, f"the decision is a {type(document).__name__}, not an object")
    allow = document.get("allow")
    if not isinstance(allow, bool):
        raise PolicyError(c.ERROR_INVALID, "the decision has no boolean 'allow'")
    reason = document.get("reason", "")
    filtered = document.get("filtered_parameters", {})
    ttl = document.get("cache_ttl", 0)
    if not isinstance(reason, str) or not isinstance(filtered, dict):
        raise PolicyError(c.ERROR_INVALID, "'reason' must be a string and 'filtered_parameters' an object")
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
        raise PolicyError(c.ERROR_INVALID, "'cache_ttl' must be a non-negative number of seconds")
    return Decision(allow=allow, reason=reason, filtered_parameters=filtered, cache_ttl=int(ttl))


def parse_request(body: Any) -> tuple[str, str | None, str | None, dict[str, Any], dict[str, Any]]:
    """Validate SARK's authorize body: (action, server_name, tool_name, parameters, gateway_metadata)."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object")
    action = body.get("action")
    if action not in c.GATEWAY_ACTIONS:
        raise RequestError(f"'action' must be one of {', '.join(c.GATEWAY_ACTIONS)}")
    server = body.get("server_name")
    tool = body.get("tool_name")
    if server is not None and not isinstance(server, str):
        raise RequestError("'server_name' must be a string")
    if tool is not None and not isinstance(tool, str):
        raise RequestError("'tool_name' must be a string")
    if action != "gateway:server:list" and not server:
        raise RequestError(f"'server_name' is required for {action}")
    if action == "gateway:tool:invoke" and not tool:
        raise RequestError("'tool_name' is required for gateway:tool:invoke")
    parameters = body.get("parameters") or {}
    metadata = body.get("gateway_metadata") or {}
    if not isinstance(parameters, dict) or not isinstance(metadata, dict):
        raise RequestError("'parameters' and 'gateway_metadata' must be objects")
    return action, server, tool, parameters, metadata


class PolicyInput:
    """The policy input document, its decision-cache key and (made only when evaluated) its JSON."""

    __slots__ = ("_json", "cache_key", "document")

    def __init__(self, document: dict[str, Any], cache_key: str) -> None:
        self.document = document
        self.cache_key = cache_key
        self._json: str | None = None

    @property
    def json(self) -> str:
        """The input as JSON text; a cache hit never needs it."""
        if self._json is None:
            self._json = _DUMPS(self.document)
        return self._json


def build_input(
    identity: Identity,
    action: str,
    server: str | None,
    tool: str | None,
    parameters: dict[str, Any],
    metadata: dict[str, Any],
    timestamp: float,
) -> PolicyInput:
    """The input SARK's gateway policy reads, plus the cache key of its decision inputs.

    Roles are sorted so that the engine sees exactly what the key describes. The key
    hashes every decision input (user id, roles, tenant, action, server, tool,
    parameters) as canonical JSON; gateway_metadata and context.timestamp are audit
    data, left out of the key so that decisions can be cached at all — a bundle whose
    decision depends on them must run with cache TTL 0.
    """
    user = {"id": identity.user_id, "roles": sorted(identity.roles), "tenant": identity.tenant}
    document = {
        "user": user,
        "action": action,
        "server_name": server,
        "tool_name": tool,
        "parameters": parameters,
        "gateway_metadata": metadata,
        "context": {"timestamp": timestamp},
    }
    keyed = [user, action, server, tool, parameters]
    digest = hashlib.sha256(_CANONICAL(keyed).encode()).hexdigest()
    return PolicyInput(document, c.DEMO_CACHE_PREFIX + digest)
