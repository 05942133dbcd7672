"""Bearer tokens of the reference service: HS256 JWTs carrying user id, roles and tenant."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from sloguard import conventions as c
from sloguard.demo.decision import Identity
from sloguard.errors import UsageError
from sloguard.processes import is_loopback

# jwt and cachebox are imported where tokens are made or verified: the demo extra installs them.

ALGORITHM = "HS256"


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or not signed with our key (HTTP 401)."""


def secret_from_env(secret: str | None = None) -> str:
    """The signing key: the argument, else $SLOGUARD_DEMO_SECRET, else the documented dev default."""
    return secret or os.environ.get(c.ENV_DEMO_SECRET) or c.DEMO_DEFAULT_SECRET


def admin_token_from_env(token: str | None = None) -> str:
    """The admin API's bearer token: the argument, else $SLOGUARD_DEMO_ADMIN_TOKEN, else the documented dev default."""
    return token or os.environ.get(c.ENV_DEMO_ADMIN_TOKEN) or c.DEMO_DEFAULT_ADMIN_TOKEN


def new_admin_token() -> str:
    """A random admin token (`sloguard stack up` makes one per stack)."""
    return secrets.token_urlsafe(32)


def require_private_defaults(host: str, secret: str, admin_token: str) -> None:
    """UsageError when a non-loopback address would serve with the documented dev secret or admin token."""
    if host and is_loopback(host):  # "" binds every address
        return
    defaults = []
    if secret == c.DEMO_DEFAULT_SECRET:
        defaults.append(f"HS256 secret (set --secret or ${c.ENV_DEMO_SECRET})")
    if admin_token == c.DEMO_DEFAULT_ADMIN_TOKEN:
        defaults.append(f"admin token (set --admin-token or ${c.ENV_DEMO_ADMIN_TOKEN})")
    if defaults:
        shown = host or "every address"
        raise UsageError(f"refusing to listen on {shown} with the published default {' and '.join(defaults)}, "
                         "which anyone who reaches it could use; set your own or listen on 127.0.0.1")


def issue_token(user: str, roles: list[str], tenant: str, *, secret: str | None = None, ttl: float = 86_400) -> str:
    """A signed token for one identity, valid for ttl seconds."""
    import jwt

    if not user or not tenant:
        raise UsageError("a token needs a user id and a tenant")
    now = int(time.time())
    claims = {"sub": user, "roles": list(roles), "tenant": tenant, "iat": now, "exp": now + int(ttl)}
    return str(jwt.encode(claims, secret_from_env(secret), algorithm=ALGORITHM))


class TokenVerifier:
    """Verifies tokens; a verified token is remembered until its expiry (HMAC checks cost ~20 µs)."""

    def __init__(self, secret: str | None = None, *, maxsize: int = 50_000) -> None:
        import cachebox
        import jwt

        self._jwt = jwt
        self._secret = secret_from_env(secret)
        self._verified: Any = cachebox.VTTLCache(maxsize)

    def verify(self, authorization: str | None) -> Identity:
        """The identity of an ``Authorization: Bearer <jwt>`` header; raises TokenError."""
        if not authorization or not authorization.startswith("Bearer "):
            raise TokenError("missing bearer token")
        token = authorization[7:].strip()
        identity = self._verified.get(token)
        if identity is not None:
            return identity
        try:
            claims = self._jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except self._jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        roles = claims.get("roles", [])
        tenant = claims.get("tenant")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or not isinstance(tenant, str):
            raise TokenError("invalid token: 'roles' must be a list of strings and 'tenant' a string")
        identity = Identity(user_id=str(claims["sub"]), roles=tuple(roles), tenant=tenant)
        remaining = float(claims["exp"]) - time.time()
        if remaining > 0:
            self._verified.insert(token, identity, remaining)
        return identity
