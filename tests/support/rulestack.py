"""The embedded stack with given rule files, bounded traffic to both paths, Prometheus queries.

Used by the live rules check (tests/integration/test_rules_live.py) and the alert
end-to-end test (tests/e2e/test_alert_e2e.py); plain functions, no pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sloguard import conventions as c
from sloguard.demo.tokens import issue_token
from sloguard.processes import pid_alive

SECRET = "rules-test-secret-0123456789abcdef"
USERS = [f"user-{i}" for i in range(24)]  # enough users that a 50 % rollout puts some on each path


def stack_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOGUARD_")}
    env[c.ENV_DEMO_SECRET] = SECRET
    return env


def stack_up(directory: Path, rule_files: list[Path]) -> dict[str, Any]:
    """`sloguard stack up` with these rules and a 50 % rollout; the state of stack.json."""
    argv = [sys.executable, "-m", "sloguard", "stack", "up", "--dir", str(directory), "--rollout", "50"]
    for path in rule_files:
        argv += ["--rules", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=stack_env())
    if result.returncode != 0:
        raise RuntimeError(f"stack up failed: {result.stdout}{result.stderr}")
    return dict(json.loads((directory / "stack.json").read_text()))


def stack_down(directory: Path, state: dict[str, Any]) -> list[int]:
    """Stop the stack; the pids still alive afterwards (should be none)."""
    subprocess.run([sys.executable, "-m", "sloguard", "stack", "down", "--dir", str(directory)],
                   capture_output=True, text=True, timeout=120, env=stack_env())
    pids = [component["pid"] for component in state["components"].values()]
    time.sleep(0.2)
    return [pid for pid in pids if pid_alive(pid)]


def url(state: dict[str, Any], component: str) -> str:
    return str(state["components"][component]["url"])


class Load(threading.Thread):
    """Authorize requests from many users, bounded in count and time; some repeat (cache hits)."""

    def __init__(self, service_url: str, *, max_requests: int, max_seconds: float, pause: float = 0.004) -> None:
        super().__init__(daemon=True)
        self.service_url = service_url
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pause = pause
        self.stop_event = threading.Event()
        self.sent = 0
        self.by_implementation: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.tokens = {user: issue_token(user, ["admin"], "acme", secret=SECRET) for user in USERS}

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=5) as client:
            while self.sent < self.max_requests and time.monotonic() < deadline and not self.stop_event.is_set():
                user = USERS[self.sent % len(USERS)]
                # Every third request repeats one of a few pages (a cache hit); the rest are new (evaluated).
                page = f"page-{self.sent % 5}" if self.sent % 3 == 0 else uuid.uuid4().hex
                body = {"action": "gateway:tool:invoke", "server_name": "docs-mcp", "tool_name": "get_page",
                        "parameters": {"page": page}}
                try:
                    response = client.post(f"{self.service_url}{c.AUTHORIZE_PATH}", json=body,
                                           headers={"Authorization": f"Bearer {self.tokens[user]}"})
                    self.statuses[response.status_code] += 1
                    self.by_implementation[response.headers.get(c.HEADER_IMPLEMENTATION, "?")] += 1
                except httpx.HTTPError:
                    self.statuses[0] += 1
                self.sent += 1
                time.sleep(self.pause)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)


def query(prometheus_url: str, expr: str) -> tuple[str, list[dict[str, Any]]]:
    """(error or "", result) of an instant query."""
    try:
        response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"request failed: {exc}", []
    if body.get("status") != "success":
        return f"{body.get('errorType')}: {body.get('error')}", []
    return "", list(body["data"]["result"])


def admin(state: dict[str, Any], method: str, path: str, document: Any = None) -> httpx.Response:
    return httpx.request(method, f"{url(state, 'service')}/admin/{path}", json=document, timeout=5,
                         headers={"Authorization": f"Bearer {state['adminToken']}"})


def wait(check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Poll `check` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()
