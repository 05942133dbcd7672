"""DIR/stack.json: the embedded stack's processes as typed objects, their health, the file's one reader and writer.

`sloguard stack up` writes it; `stack status|down`, `load --stack`, `stress --recovery`
and the demo read it; a restart by `stress --recovery` writes the new pid back, so
`stack down` still stops exactly what runs. It holds the stack's admin token: mode 0600.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloguard.conventions import API_VERSION, DEMO_DEFAULT_ADMIN_TOKEN, ENV_DEMO_ADMIN_TOKEN, SCRAPE_JOB
from sloguard.errors import SloguardError
from sloguard.files import write_text_atomic
from sloguard.processes import http_ok, pid_alive, tcp_ok

STATE_FILE = "stack.json"
STOPPED_STATE_FILE = "stack.stopped.json"  # what `stack down` renames stack.json to
STACK_KIND = "Stack"
# Redis speaks no HTTP: its open port is its health.
_PORT_ONLY = frozenset({"redis"})
# Any other name is a reference-service process (the stack's or a replica of `load ab`): its readiness.
_HEALTH_PATHS = {"policy-server": "/health", "receiver": "/health", "alertmanager": "/-/ready",
                 "prometheus": "/-/ready"}
_SERVICE_HEALTH_PATH = "/ready"


class StackError(SloguardError):
    """The stack cannot start, or its state directory is unusable."""


@dataclass(kw_only=True)
class Component:
    """One process of the stack: how it was started, where it listens and logs, its pid (0: not started)."""

    name: str
    port: int
    url: str
    pid: int = 0
    log: Path
    argv: list[str]
    # Environment added to the process's: the service's admin token goes here, not in argv, which
    # every local user can read (ps, /proc/PID/cmdline); a restart starts with it again.
    env: dict[str, str] = field(default_factory=dict)

    def health_url(self) -> str | None:
        """The URL that answers 2xx when the process is ready; None when an open port is all it has."""
        if self.name in _PORT_ONLY:
            return None
        return self.url + _HEALTH_PATHS.get(self.name, _SERVICE_HEALTH_PATH)

    def healthy(self) -> bool:
        url = self.health_url()
        return tcp_ok(self.port) if url is None else http_ok(url)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "port": self.port, "url": self.url, "pid": self.pid, "log": str(self.log),
                "argv": list(self.argv), "env": dict(self.env)}

    @classmethod
    def from_json(cls, raw: Any) -> Component:
        """A component of stack.json; KeyError, TypeError or ValueError when it is not one."""
        if not isinstance(raw, dict) or not isinstance(raw["argv"], list) or not isinstance(raw.get("env", {}), dict):
            raise TypeError("a component is an object with name, port, url, pid, log, argv and env")
        return cls(name=str(raw["name"]), port=int(raw["port"]), url=str(raw["url"]), pid=int(raw["pid"]),
                   log=Path(raw["log"]), argv=[str(arg) for arg in raw["argv"]],
                   env={str(key): str(value) for key, value in raw.get("env", {}).items()})


@dataclass
class StackState:
    """The whole of stack.json: where the stack lives, when it started, its admin token and job, its processes."""

    directory: Path
    components: dict[str, Component]
    admin_token: str = DEMO_DEFAULT_ADMIN_TOKEN  # `stack up` makes a random one per stack
    started_at: float | None = None
    job: str = SCRAPE_JOB  # the job name Prometheus scrapes the service under

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    def alive(self) -> list[Component]:
        """The components whose pid still runs."""
        return [component for component in self.components.values() if pid_alive(component.pid)]

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": STACK_KIND,
            "directory": str(self.directory),
            "startedAt": self.started_at,
            "adminToken": self.admin_token,
            "job": self.job,
            "components": {name: component.to_json() for name, component in self.components.items()},
        }


def read_state(directory: Path) -> StackState | None:
    """DIR/stack.json, or None when there is none; StackError when it is not a stack state."""
    path = directory / STATE_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or not isinstance(raw.get("components"), dict):
            raise ValueError("no components")
        components = {name: Component.from_json(value) for name, value in raw["components"].items()}
        started = raw.get("startedAt")
        return StackState(
            directory=directory.resolve(), components=components,
            admin_token=str(raw.get("adminToken") or _service_token(components.get("service"))),
            started_at=None if started is None else float(started), job=str(raw.get("job") or SCRAPE_JOB),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StackError(f"{path}: unreadable stack state ({exc}); remove it to start afresh") from None


def write_state(state: StackState) -> Path:
    """Write stack.json atomically (a reader never sees half a file), readable by this user only."""
    state.directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(state.path, json.dumps(state.to_json(), indent=2) + "\n", mode=0o600)
    return state.path


def record_pid(directory: Path, name: str, pid: int) -> None:
    """A restarted component's new pid, written back into DIR/stack.json."""
    state = read_state(directory)
    if state is None:
        raise StackError(f"{directory / STATE_FILE}: gone while the stack was in use")
    state.components[name].pid = pid
    write_state(state)


def _service_token(service: Component | None) -> str:
    """The admin token the service was started with (a stack.json written by hand may lack adminToken)."""
    if service is None:
        return DEMO_DEFAULT_ADMIN_TOKEN
    if service.env.get(ENV_DEMO_ADMIN_TOKEN):
        return service.env[ENV_DEMO_ADMIN_TOKEN]
    argv = service.argv
    if "--admin-token" in argv[:-1]:  # a stack.json of an older sloguard, which passed it in argv
        return argv[argv.index("--admin-token") + 1]
    return DEMO_DEFAULT_ADMIN_TOKEN
