"""The target of a load run: loopback guard, health check, admin API, its process, the loadgen files."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sloguard import conventions as c
from sloguard.errors import BackendError, UsageError
from sloguard.processes import check_base_url

# psutil (the load extra) is imported inside the one function that needs it: only soak without --pid uses it.

def check_host(url: str, *, allow_remote: bool = False) -> str:
    """The target URL without a trailing slash; refuses anything but loopback unless allowed."""
    return check_base_url(url, name="--host", allow_remote=allow_remote,
                          refusal="refusing to send load to {host}: only loopback targets (127.0.0.1) unless "
                                  "--allow-remote")


def health_problem(url: str, timeout: float = 3.0) -> str | None:
    """None when GET /health answers 2xx, else a one-line reason naming the target."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}{c.HEALTH_PATH}", timeout=timeout) as response:
            if 200 <= response.status < 300:
                return None
            return f"target {url} is not healthy: GET {c.HEALTH_PATH} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"target {url} is not healthy: GET {c.HEALTH_PATH} answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return (f"target {url} is down ({reason}): start it with `sloguard stack up` or "
                f"`sloguard demo serve`, or pass the right --host")


def require_healthy(url: str) -> None:
    problem = health_problem(url)
    if problem:
        raise BackendError(problem)


def admin_request(url: str, method: str, path: str, token: str, body: Any = None,
                  timeout: float = 5.0) -> Any:
    """One call to the reference service's admin API; BackendError on failure."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise BackendError(f"{method} {path} on {url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise BackendError(f"{method} {path} on {url} failed: {getattr(exc, 'reason', exc)}") from None
    try:
        return json.loads(text) if text else None
    except ValueError:
        raise BackendError(f"{method} {path} on {url} answered something that is not JSON") from None


def apply_rollout(url: str, rollout: dict[str, float], token: str) -> dict[str, Any]:
    """Set the rollout percentages through the admin API; the state the service reports back."""
    state = admin_request(url, "PUT", c.ADMIN_ROLLOUT_PATH, token, rollout) if rollout else \
        admin_request(url, "GET", c.ADMIN_ROLLOUT_PATH, token)
    return state if isinstance(state, dict) else {}


def pid_listening_on(url: str) -> int:
    """The pid of the process listening on the URL's port (psutil), or UsageError with a hint."""
    import psutil

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    candidates: set[int] = set()
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        raise UsageError(f"cannot list sockets to find who listens on port {port}: pass --pid") from None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            candidates.add(conn.pid)
    if not candidates:
        raise UsageError(f"no process of this user listens on port {port}: pass --pid")
    # Several listeners (pre-forked workers) share the socket: the oldest is their parent.
    return min(candidates, key=lambda pid: psutil.Process(pid).create_time())


def loadgen_dir(explicit: str | None = None) -> Path:
    """The loadgen/ directory with locustfile.py and profiles.yaml.

    Looked up in order: the argument, $SLOGUARD_LOADGEN_DIR, ./loadgen, and the
    checkout the sloguard package runs from (the set-up installs it editable).
    """
    if explicit:
        found = Path(explicit)
        if not ((found / "locustfile.py").is_file() and (found / "profiles.yaml").is_file()):
            raise UsageError(f"{explicit}: not a loadgen directory (needs locustfile.py and profiles.yaml)")
        return found.resolve()
    candidates = []
    env = os.environ.get(c.ENV_LOADGEN_DIR)
    if env:
        candidates.append(Path(env))
    candidates.append(Path.cwd() / "loadgen")
    candidates.append(Path(__file__).resolve().parents[2] / "loadgen")
    for candidate in candidates:
        if (candidate / "locustfile.py").is_file() and (candidate / "profiles.yaml").is_file():
            return candidate.resolve()
    raise UsageError(
        f"loadgen/ (locustfile.py, profiles.yaml) not found: run from the sloguard checkout or set "
        f"{c.ENV_LOADGEN_DIR}"
    )

