"""SARK's request, policy input, decision document and decision-cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sloguard import conventions as c
from sloguard.demo.engine import UNDEFINED, PolicyError

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
    """A normalised decision; ``error`` marks a fail-closed deny, ``warning`` a deny the policy did not make."""

    allow: bool
    reason: str = ""
    filtered_parameters: dict[str, Any] = field(default_factory=dict)
    cache_ttl: int = 0
    error: bool = False
    warning: str = ""  # WARNING_UNDEFINED or WARNING_NO_ALLOW: the gateway logs it (rate-limited)

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


# A decision the policy did not make is a plain deny (as in OPA's and SARK's clients, which
# read a missing allow as false), not a policy error; the gateway logs it, rate-limited.
WARNING_UNDEFINED = "undefined"
WARNING_NO_ALLOW = "no_allow"
UNDEFINED_REASON = "denied: the policy decision is undefined for this input"
NO_ALLOW_REASON = "denied: the policy decision has no 'allow'"
REASON_SEPARATOR = "; "


_SHAPES = ((bool, "a boolean"), (int | float, "a number"), (str, "a string"), (list, "an array"), (dict, "an object"))


def _shape(value: Any) -> str:
    """A JSON value's type as OPA's documentation names it."""
    if value is None:
        return "null"
    return next((name for kind, name in _SHAPES if isinstance(value, kind)), f"a {type(value).__name__}")


def _reason(value: Any) -> str:
    """A string, or a collection of messages (a set arrives as an array) joined in sorted order."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return REASON_SEPARATOR.join(sorted(value))
    raise PolicyError(c.ERROR_INVALID, f"'reason' is {_shape(value)}, not a string or a collection of strings")


def parse_decision(value: Any) -> Decision:
    """The gateway's answer for the decision's value (the table in docs/demo.md); raises PolicyError.

    A boolean is ``allow``. An object gives ``allow`` (a boolean), ``reason`` (a string, or a
    set or array of strings), ``filtered_parameters`` (an object) and ``cache_ttl`` (seconds);
    other keys, such as a ``deny`` set, do not change the answer. Undefined, or an object
    without ``allow``, denies. Any other shape is an invalid decision (a policy error).
    """
    if value is UNDEFINED:
        return Decision(allow=False, reason=UNDEFINED_REASON, warning=WARNING_UNDEFINED)
    if isinstance(value, bool):
        return Decision(allow=value)
    if not isinstance(value, dict):
        raise PolicyError(c.ERROR_INVALID, f"the decision is {_shape(value)}, not a boolean or an object")
    if "allow" not in value:
        return Decision(allow=False, reason=NO_ALLOW_REASON, warning=WARNING_NO_ALLOW)
    allow = value["allow"]
    if not isinstance(allow, bool):
        raise PolicyError(c.ERROR_INVALID, f"'allow' is {_shape(allow)}, not a boolean")
    reason = _reason(value.get("reason", ""))
    filtered = value.get("filtered_parameters", {})
    if not isinstance(filtered, dict):
        raise PolicyError(c.ERROR_INVALID, f"'filtered_parameters' is {_shape(filtered)}, not an object")
    ttl = value.get("cache_ttl", 0)
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
