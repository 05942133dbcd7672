"""SARK authorize requests for load: who calls which tool with what, built from the policy data.

Each workload class names its request kinds and their weights; Locust's user
classes (loadgen/locustfile.py) take their @task weights from here and the
open-loop generator samples the same weights, so both modes send the same mix.
Every request is valid for the bundled SARK policy (no 4xx); whether it is
allowed or denied depends on the caller, as in real traffic.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from sloguard import conventions as c
from sloguard.demo.decision import Identity
from sloguard.demo.tokens import issue_token

# Tokens outlive the longest soak (24 h) with room to spare; an expired token would be a 401.
TOKEN_TTL = 7 * 86_400
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class Call:
    """One authorize request: its kind (for stats), the caller's token and the JSON body."""

    kind: str
    token: str
    body: bytes


@dataclass(frozen=True)
class Server:
    name: str
    tenant: str
    sensitivity: str
    tools: tuple[str, ...]


def load_servers() -> dict[str, Server]:
    """The servers of the bundled policy data (sloguard/demo/policies/data.json)."""
    text = resources.files("sloguard.demo").joinpath("policies/data.json").read_text(encoding="utf-8")
    raw = json.loads(text)["sark"]["servers"]
    return {
        name: Server(name, s["tenant"], s["sensitivity"], tuple(s.get("tools", ())))
        for name, s in raw.items()
    }


def mint_token(identity: Identity, secret: str | None = None) -> str:
    """A bearer token the reference service accepts (its own issuer, so claims always match)."""
    return issue_token(identity.user_id, list(identity.roles), identity.tenant, secret=secret, ttl=TOKEN_TTL)


# Tool parameters, realistic in shape and size. Reads and writes are told apart by what
# the tool does, as SARK's audit does.
_TABLES = ("customers", "orders", "invoices", "events", "sessions", "products")
_REPOS = ("sark/gateway", "sark/policies", "sark/sdk-python", "sark/sdk-rust")
_FILES = ("src/main.rs", "README.md", "policies/gateway.rego", "pyproject.toml", "src/cache/mod.rs")


def _select(rng: random.Random) -> dict[str, Any]:
    table = rng.choice(_TABLES)
    return {"query": f"SELECT id, name, created_at FROM {table} WHERE region = 'eu' LIMIT {rng.choice((10, 50, 100))}",
            "database": "analytics"}  # fmt: skip


_READS: tuple[tuple[str, str, Callable[[random.Random], dict[str, Any]]], ...] = (
    ("postgres-mcp", "execute_query", _select),
    ("postgres-mcp", "list_tables", lambda rng: {"schema": rng.choice(("public", "analytics"))}),
    ("postgres-mcp", "describe_table", lambda rng: {"table": rng.choice(_TABLES)}),
    ("github-mcp", "get_file", lambda rng: {"repo": rng.choice(_REPOS), "path": rng.choice(_FILES), "ref": "main"}),
    ("github-mcp", "list_issues", lambda rng: {"repo": rng.choice(_REPOS), "state": rng.choice(("open", "closed"))}),
    ("docs-mcp", "search_docs", lambda rng: {"q": rng.choice(("rollout", "cache ttl", "tenant isolation"))}),
    ("wiki-mcp", "get_page", lambda rng: {"page": rng.choice(("onboarding", "runbook", "oncall"))}),
    ("crm-mcp", "find_customer", lambda rng: {"email_domain": rng.choice(("example.com", "example.org"))}),
)
_WRITES: tuple[tuple[str, str, Callable[[random.Random], dict[str, Any]]], ...] = (
    ("github-mcp", "create_issue", lambda rng: {"repo": rng.choice(_REPOS), "title": "p95 regression on cache path",
                                                "body": "Seen in the nightly load run.", "labels": ["perf"]}),
    ("github-mcp", "close_issue", lambda rng: {"repo": rng.choice(_REPOS), "number": rng.randint(1, 500)}),
    ("postgres-mcp", "execute_query", lambda rng: {"query": f"DELETE FROM {rng.choice(_TABLES)} WHERE id = "
                                                            f"{rng.randint(1, 10_000)}", "database": "analytics"}),
    ("postgres-mcp", "execute_query", lambda rng: {"query": f"UPDATE {rng.choice(_TABLES)} SET archived = true "
                                                            f"WHERE id = {rng.randint(1, 10_000)}"}),
    ("crm-mcp", "update_customer", lambda rng: {"customer_id": rng.randint(1, 5000), "tier": "gold"}),
)
_ADMIN: tuple[tuple[str, str, Callable[[random.Random], dict[str, Any]]], ...] = (
    ("vault-mcp", "read_secret", lambda rng: {"path": f"kv/sark/{rng.choice(('db', 'github', 'redis'))}"}),
    ("vault-mcp", "rotate_secret", lambda rng: {"path": "kv/sark/db", "api_key": "redacted-by-policy"}),
    ("billing-mcp", "refund", lambda rng: {"invoice": f"inv-{rng.randint(1, 9999)}", "amount": 25}),
    ("postgres-mcp", "describe_table", lambda rng: {"table": rng.choice(_TABLES)}),
)
_INSPECT = ("gateway:server:info", "gateway:tool:discover")


class Workload:
    """Base of the request mixes; subclasses name their kinds and weights."""

    weights: ClassVar[dict[str, int]] = {}
    # Roles and tenants of the caller population: most users are analysts and developers of acme.
    population: ClassVar[tuple[tuple[tuple[str, ...], str, int], ...]] = (
        (("analyst",), "acme", 40),
        (("developer",), "acme", 40),
        (("analyst", "developer"), "acme", 5),
        (("admin",), "acme", 5),
        (("analyst",), "globex", 5),
        (("admin",), "globex", 5),
    )

    def __init__(self, *, seed: int | None = None, users: int = 200, secret: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.servers = load_servers()
        self.identities: list[Identity] = []
        total = sum(w for _, _, w in self.population)
        n = 0
        for roles, tenant, weight in self.population:
            for _ in range(max(1, round(users * weight / total))):
                self.identities.append(Identity(f"user-{n:05d}", roles, tenant))
                n += 1
        self.tokens = {ident: mint_token(ident, secret) for ident in self.identities}
        self._by_role: dict[str, list[Identity]] = {}
        for ident in self.identities:
            for role in ident.roles:
                self._by_role.setdefault(role, []).append(ident)
        # Unique across load-generator processes too (distributed Locust, several generators).
        self._nonce = f"{os.getpid():x}-{self.rng.getrandbits(32):08x}"
        self._serial = itertools.count()

    # ---- building blocks -------------------------------------------------------------------

    def call(self, kind: str, ident: Identity, action: str, server: str | None, tool: str | None,
             parameters: dict[str, Any]) -> Call:
        body = {
            "action": action,
            "server_name": server,
            "tool_name": tool,
            "parameters": parameters,
            # Audit data only: not part of the decision-cache key.
            "gateway_metadata": {"request_id": f"{self._nonce}-{next(self._serial)}", "client": "sloguard-loadgen"},
        }
        return Call(kind, self.tokens[ident], _DUMPS(body).encode())

    def user(self, role: str | None = None, tenant: str | None = None) -> Identity:
        pool = self._by_role.get(role, self.identities) if role else self.identities
        if tenant:
            pool = [i for i in pool if i.tenant == tenant] or pool
        return self.rng.choice(pool)

    def invoke(self, kind: str, ident: Identity, spec: tuple[str, str, Callable[[random.Random], dict[str, Any]]],
               ) -> Call:
        server, tool, params = spec
        return self.call(kind, ident, "gateway:tool:invoke", server, tool, params(self.rng))

    def sampler(self) -> Callable[[], Call]:
        """A function drawing the next call by the class weights (the open-loop generator's source)."""
        kinds = list(self.weights)
        methods = [getattr(self, k) for k in kinds]
        cum = list(itertools.accumulate(self.weights[k] for k in kinds))
        rng = self.rng

        def draw() -> Call:
            return rng.choices(methods, cum_weights=cum)[0]()

        return draw


class MixedWorkload(Workload):
    """SARKUser: 60 % read-like, 30 % write-like, 10 % admin calls from a 200-user population."""

    weights: ClassVar[dict[str, int]] = {"read": 6, "write": 3, "admin": 1}

    def read(self) -> Call:
        r = self.rng.random()
        if r < 0.1:
            return self.call("read", self.user(), "gateway:server:list", None, None, {})
        if r < 0.25:
            ident = self.user()
            server = self.rng.choice([s for s in self.servers.values() if s.tenant == ident.tenant] or
                                     list(self.servers.values()))
            return self.call("read", ident, self.rng.choice(_INSPECT), server.name, None, {})
        spec = self.rng.choice(_READS)
        role = {"postgres-mcp": "analyst", "github-mcp": "developer"}.get(spec[0])
        return self.invoke("read", self.user(role), spec)

    def write(self) -> Call:
        spec = self.rng.choice(_WRITES)
        role = "developer" if spec[0] == "github-mcp" else "analyst"
        return self.invoke("write", self.user(role), spec)

    def admin(self) -> Call:
        spec = self.rng.choice(_ADMIN)
        return self.invoke("admin", self.user("admin", self.servers[spec[0]].tenant), spec)


class RepeatedWorkload(Workload):
    """ReadHeavyUser: the same dozen reads over and over, on cacheable servers (high cache hit rate)."""

    weights: ClassVar[dict[str, int]] = {"repeat": 1}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cacheable = [spec for spec in _READS if self.servers[spec[0]].sensitivity != "critical"]
        fixed = random.Random(7)  # the same set in every process, so the cache warms once
        self.calls: list[Call] = []
        for spec in cacheable[:6]:
            role = {"postgres-mcp": "analyst", "github-mcp": "developer"}.get(spec[0])
            for ident in fixed.sample(self._by_role.get(role or "analyst", self.identities), 2):
                self.calls.append(self.call("repeat", ident, "gateway:tool:invoke", spec[0], spec[1], spec[2](fixed)))

    def repeat(self) -> Call:
        return self.rng.choice(self.calls)


class UniqueWorkload(Workload):
    """CacheMissUser: every request differs in its parameters, so every decision is evaluated."""

    weights: ClassVar[dict[str, int]] = {"unique": 1}

    def unique(self) -> Call:
        n = next(self._serial)
        ident = self.user("analyst", "acme")
        params = {"query": f"SELECT * FROM events WHERE trace_id = '{self._nonce}-{n}'", "database": "analytics"}
        return self.call("unique", ident, "gateway:tool:invoke", "postgres-mcp", "execute_query", params)


class ComplexWorkload(Workload):
    """ComplexPolicyUser: both tenants, multi-role callers, large nested parameters (kilobytes of JSON)."""

    weights: ClassVar[dict[str, int]] = {"complex": 1}

    def complex(self) -> Call:
        rng = self.rng
        ident = rng.choice(self.identities)
        server = rng.choice(list(self.servers.values()))
        tool = rng.choice(server.tools) if server.tools else "unknown"
        columns = [f"col_{i}" for i in range(rng.randint(20, 60))]
        params: dict[str, Any] = {
            "query": f"SELECT {', '.join(columns)} FROM {rng.choice(_TABLES)} WHERE "
                     + " AND ".join(f"{col} IS NOT NULL" for col in columns[:20]),
            "filters": [{"field": col, "op": rng.choice(("=", "<", ">", "in")), "value": rng.randint(0, 10**6)}
                        for col in columns[:30]],
            "options": {"timeout_ms": 5000, "page": {"size": 100, "cursor": f"{rng.getrandbits(64):016x}"},
                        "tags": [f"team-{i}" for i in range(12)]},
            "password": "never-forwarded",
        }  # fmt: skip
        return self.call("complex", ident, "gateway:tool:invoke", server.name, tool, params)


# The Locust user class each workload serves (the names profiles.yaml uses).
WORKLOADS: dict[str, type[Workload]] = {
    "SARKUser": MixedWorkload,
    "ReadHeavyUser": RepeatedWorkload,
    "CacheMissUser": UniqueWorkload,
    "ComplexPolicyUser": ComplexWorkload,
}


def http_source(workload: Workload, host_header: str, path: str = c.AUTHORIZE_PATH
                ) -> Callable[[int], tuple[str, bytes]]:
    """The open-loop generator's request source: full HTTP/1.1 requests drawn from the workload."""
    draw = workload.sampler()
    prefixes: dict[str, bytes] = {}

    def source(_: int) -> tuple[str, bytes]:
        call = draw()
        prefix = prefixes.get(call.token)
        if prefix is None:
            prefix = prefixes[call.token] = (
                f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Bearer {call.token}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
        return call.kind, b"%s%d\r\n\r\n%s" % (prefix, len(call.body), call.body)

    return source
