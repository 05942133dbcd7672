"""A deterministic corpus of authorize requests that covers every rule of the bundled policy."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sloguard.demo.decision import Identity

TENANTS = ("acme", "globex")
ROLE_SETS: tuple[tuple[str, ...], ...] = (
    ("admin",), ("analyst",), ("developer",), ("viewer",), (), ("analyst", "developer"), ("admin", "analyst"),
)  # fmt: skip
SERVERS = {
    "postgres-mcp": ("execute_query", "list_tables", "describe_table"),
    "github-mcp": ("get_file", "list_issues", "create_issue", "close_issue"),
    "docs-mcp": ("search_docs", "get_page"),
    "vault-mcp": ("read_secret", "rotate_secret"),
    "crm-mcp": ("find_customer", "update_customer"),
    "billing-mcp": ("refund", "charge"),
    "wiki-mcp": ("search_docs", "get_page"),
    "unknown-mcp": ("anything",),
}
QUERIES = (
    "SELECT * FROM orders WHERE id = $1",
    "select count(*) from users",
    "  SELECT name FROM deleted_items",  # "deleted" is not the DELETE keyword
    "DROP TABLE users",
    "delete from orders",
    "TRUNCATE audit_log",
    "SELECT 1; DROP TABLE users",
    "UPDATE users SET admin = true",
    "INSERT INTO t VALUES (1)",
    "WITH x AS (SELECT 1) SELECT * FROM x",
)
ACTIONS = ("gateway:tool:invoke", "gateway:server:list", "gateway:tool:discover", "gateway:server:info")


@dataclass(frozen=True)
class CorpusRequest:
    """One request: who asks and SARK's body."""

    identity: Identity
    body: dict[str, Any]


def _parameters(rng: random.Random, server: str, tool: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if server == "postgres-mcp" or rng.random() < 0.1:
        params["query"] = rng.choice(QUERIES)
    if tool in ("get_file",):
        params["path"] = rng.choice(["README.md", "src/main.py", "docs/index.md"])
    if tool in ("create_issue", "close_issue"):
        params["title"] = rng.choice(["Delete old docs", "Fix the build", "Drop support for py3.8"])
    if rng.random() < 0.3:
        params[rng.choice(["password", "api_key", "token", "Secret"])] = "s3cr3t"
    if rng.random() < 0.3:
        params["limit"] = rng.randint(1, 1000)
    return params


def generate(count: int = 240, seed: int = 7) -> list[CorpusRequest]:
    """``count`` requests; the first ones walk every (roles, server, tool) so every rule fires."""
    rng = random.Random(seed)
    requests: list[CorpusRequest] = []
    combos = [(roles, server, tool) for roles in ROLE_SETS for server, tools in SERVERS.items() for tool in tools]
    rng.shuffle(combos)
    index = 0
    while len(requests) < count:
        if index < len(combos):
            roles, server, tool = combos[index]
            action = "gateway:tool:invoke"
        else:
            roles = rng.choice(ROLE_SETS)
            server = rng.choice(list(SERVERS))
            tool = rng.choice(SERVERS[server])
            action = rng.choice(ACTIONS)
        index += 1
        tenant = rng.choice(TENANTS)
        identity = Identity(user_id=f"user-{rng.randint(1, 60)}", roles=roles, tenant=tenant)
        body: dict[str, Any] = {"action": action, "parameters": _parameters(rng, server, tool)}
        if action != "gateway:server:list" or rng.random() < 0.5:
            body["server_name"] = server
        if action == "gateway:tool:invoke":
            body["tool_name"] = tool
        body["gateway_metadata"] = {"request_id": f"req-{len(requests)}"}
        requests.append(CorpusRequest(identity, body))
    return requests
