"""The embedded local stack: start, stop and health of every process, state in one directory.

`up` starts, as children on loopback with free ports: redis-server, the
OPA-compatible policy server, the reference service, a webhook receiver,
prometheus-alertmanager (routing to the receiver) and prometheus (scraping the
service, loading the alert rules, alerting to Alertmanager). DIR/stack.json
(sloguard.stackstate) records ports, URLs and pids; `down` stops exactly those pids.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from sloguard.conventions import BINARIES, DEMO_DEFAULT_ADMIN_TOKEN, SCRAPE_JOB
from sloguard.errors import UsageError
from sloguard.processes import LOOPBACK, free_port, pid_alive, port_in_use, spawn, stop_pid, tail, wait_until
from sloguard.stackstate import (
    STATE_FILE,
    STOPPED_STATE_FILE,
    Component,
    StackError,
    StackState,
    read_state,
    write_state,
)

# Package data, so an installed wheel has them too; alerts/prometheus.yml and alerts/alertmanager.yml
# are symbolic links to these files, which docker-compose.yml mounts as they are.
_CONFIGS = files("sloguard") / "data" / "stack"
SHARED_PROMETHEUS_CONFIG = _CONFIGS / "prometheus.yml"
SHARED_ALERTMANAGER_CONFIG = _CONFIGS / "alertmanager.yml"
HEALTH_TIMEOUT = 30.0
# The order processes start in; `down` stops them in reverse.
COMPONENTS = ("redis", "policy-server", "service", "receiver", "alertmanager", "prometheus")
# The processes an authorization request passes through; a private target (load.procs) starts only these.
SERVICE_COMPONENTS = ("redis", "policy-server", "service")


@dataclass
class StackOptions:
    directory: Path
    policies: str | None = None
    decision: str | None = None
    rollout: float | None = None
    rules: Sequence[Path] = ()
    ports: dict[str, int] = field(default_factory=dict)
    admin_token: str = DEMO_DEFAULT_ADMIN_TOKEN
    service_args: Sequence[str] = ()


@dataclass
class ComponentStatus:
    name: str
    pid: int
    running: bool
    healthy: bool
    url: str


def require_binary(key: str) -> str:
    """The path of a stack binary, or a message naming the Debian package to install."""
    binary, package = BINARIES[key]
    path = shutil.which(binary)
    if path is None:
        raise StackError(f"{binary} not found: install the Debian package {package} (apt-get install {package})")
    return path


def up(options: StackOptions, *, say: Callable[[str], None] = lambda _: None) -> StackState:
    """Start every component, wait for each to be healthy, write stack.json."""
    directory = options.directory.resolve()
    previous = read_state(directory)
    if previous is not None:
        alive = previous.alive()
        if alive:
            names = ", ".join(f"{c.name} (pid {c.pid})" for c in alive)
            raise StackError(f"a stack is already running in {directory}: {names}; run `sloguard stack down`")
        say(f"{directory / STATE_FILE} was stale (no process of it is running): starting afresh")
    binaries = {key: require_binary(key) for key in ("redis", "prometheus", "alertmanager")}
    ports = _choose_ports(options.ports)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    started: dict[str, Component] = {}
    try:
        for name in COMPONENTS:
            component = plan_component(name, options, ports, binaries, log_dir=directory / "logs")
            started[name] = component
            start_component(component)
            say(f"{name:<14} pid {component.pid:<7} {component.url}")
    except BaseException:
        for component in reversed(list(started.values())):
            if component.pid:
                stop_pid(component.pid)
        raise
    state = StackState(directory=directory, components=started, admin_token=options.admin_token,
                       started_at=time.time())
    write_state(state)
    return state


def down(directory: Path) -> list[tuple[str, int, bool]]:
    """Stop exactly the pids of stack.json, last started first; (name, pid, was running)."""
    state = _existing_state(directory)
    stopped = []
    for component in reversed(list(state.components.values())):
        stopped.append((component.name, component.pid, stop_pid(component.pid)))
    state.path.rename(state.directory / STOPPED_STATE_FILE)
    return stopped


def status(directory: Path) -> list[ComponentStatus]:
    """Each component: is its pid running, does it answer its health check."""
    result = []
    for c in _existing_state(directory).components.values():
        running = pid_alive(c.pid)
        result.append(ComponentStatus(c.name, c.pid, running, running and c.healthy(), c.url))
    return result


def _existing_state(directory: Path) -> StackState:
    state = read_state(directory.resolve())
    if state is None:
        raise UsageError(f"no stack in {directory} (no {STATE_FILE})")
    return state


def _choose_ports(fixed: dict[str, int]) -> dict[str, int]:
    unknown = sorted(set(fixed) - set(COMPONENTS))
    if unknown:
        raise UsageError(f"unknown component {', '.join(unknown)} in --port: choose from {', '.join(COMPONENTS)}")
    ports: dict[str, int] = {}
    for name in COMPONENTS:
        if name in fixed:
            if port_in_use(fixed[name]):
                raise StackError(f"port {fixed[name]} ({name}) is in use: choose another or omit it for a free one")
            ports[name] = fixed[name]
        else:
            port = free_port()
            while port in ports.values():
                port = free_port()
            ports[name] = port
    return ports


def _python_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sloguard", *args]


def plan_component(name: str, options: StackOptions, ports: Mapping[str, int], binaries: Mapping[str, str], *,
                   log_dir: Path) -> Component:
    """How one component starts (argv, port, URL, log), not started yet; writes the config files it reads."""
    directory = options.directory.resolve()
    port = ports[name]
    base = f"http://{LOOPBACK}:{port}"
    if name == "redis":
        argv = [binaries["redis"], "--port", str(port), "--bind", LOOPBACK, "--save", "",
                "--appendonly", "no", "--dir", str(directory), "--protected-mode", "yes"]
        url = f"redis://{LOOPBACK}:{port}/0"
    elif name == "policy-server":
        argv = _python_cli("demo", "policy-server", "--host", LOOPBACK, "--port", str(port))
        if options.policies:
            argv += ["--policies", options.policies]
        url = base
    elif name == "service":
        argv = _python_cli(
            "demo", "serve", "--host", LOOPBACK, "--port", str(port),
            "--opa-url", f"http://{LOOPBACK}:{ports['policy-server']}",
            "--redis-url", f"redis://{LOOPBACK}:{ports['redis']}/0",
            "--admin-token", options.admin_token,
        )
        if options.policies:
            argv += ["--policies", options.policies]
        if options.decision:
            argv += ["--decision", options.decision]
        if options.rollout is not None:
            argv += ["--rollout", f"{options.rollout:g}"]
        argv += list(options.service_args)
        url = base
    elif name == "receiver":
        argv = [sys.executable, "-m", "sloguard.receiver", "--port", str(port),
                "--out", str(directory / "notifications.jsonl")]
        url = base
    elif name == "alertmanager":
        config = directory / "alertmanager.yml"
        config.write_text(yaml.safe_dump(alertmanager_config(f"http://{LOOPBACK}:{ports['receiver']}/alert"),
                                         sort_keys=False))
        argv = [binaries["alertmanager"], f"--config.file={config}", f"--storage.path={directory / 'alertmanager'}",
                f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="]
        url = base
    elif name == "prometheus":
        config = directory / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(ports, options.rules), sort_keys=False))
        argv = [binaries["prometheus"], f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=2d"]
        url = base
    else:  # pragma: no cover - COMPONENTS is closed
        raise AssertionError(name)
    return Component(name=name, port=port, url=url, log=log_dir / f"{name}.log", argv=argv)


def start_component(c: Component, *, timeout: float = HEALTH_TIMEOUT) -> None:
    """Spawn the component with its argv, set its pid, wait until it is healthy (StackError if not)."""
    c.pid = spawn(c.argv, c.log, env={**os.environ, "PYTHONUNBUFFERED": "1"}).pid
    if wait_until(c.healthy, timeout=timeout, alive=lambda: pid_alive(c.pid)):
        return
    died = not pid_alive(c.pid)
    stop_pid(c.pid)
    reason = "exited" if died else f"was not healthy within {timeout:.0f} s"
    hint = tail(c.log)
    if "address already in use" in hint.lower():
        reason = f"could not bind port {c.port} (address already in use)"
    raise StackError(f"{c.name} {reason}; log {c.log}: {hint}")


def prometheus_config(ports: Mapping[str, int], rules: Sequence[Path],
                      base: Traversable = SHARED_PROMETHEUS_CONFIG) -> dict[str, Any]:
    """The shared Prometheus config with this stack's loopback addresses and rule files."""
    try:
        config = yaml.safe_load(base.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"{base}: cannot read the shared Prometheus config ({exc})") from None
    config["rule_files"] = [str(Path(r).resolve()) for r in rules]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{ports['alertmanager']}"]}]}]}
    for job in config.get("scrape_configs", []):
        if job.get("job_name") == SCRAPE_JOB:
            job["static_configs"] = [{"targets": [f"{LOOPBACK}:{ports['service']}"]}]
    return config


def alertmanager_config(webhook_url: str, base: Traversable = SHARED_ALERTMANAGER_CONFIG, *, fast: bool = True
                        ) -> dict[str, Any]:
    """The shared Alertmanager config with every webhook pointed at this stack's receiver.

    `fast` shortens group_wait/group_interval: the local stack exists to show an alert
    reaching its receiver within seconds, not after production batching delays.
    """
    try:
        config = yaml.safe_load(base.read_text(encoding="utf-8"))
        receivers = config["receivers"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise StackError(f"{base}: cannot read the shared Alertmanager config ({exc})") from None
    for receiver in receivers:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = webhook_url
    if fast:
        routes = [config["route"], *config["route"].get("routes", [])]
        for route in routes:
            if "group_wait" in route:
                route["group_wait"] = "1s"
            if "group_interval" in route:
                route["group_interval"] = "5s"
    return config


def parse_ports(items: Sequence[str]) -> dict[str, int]:
    """--port NAME=PORT options."""
    ports = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise UsageError(f"--port {item!r}: write NAME=PORT with a port from 1 to 65535")
        ports[name.strip()] = int(value)
    return ports


def default_rules() -> list[Path]:
    """alerts/*.rules.yml of the current directory, like the default spec ./sloguard.yaml; none there, none loaded.

    Alert rules are what `sloguard rules generate` writes from the spec; the stack runs
    without them (`sloguard check` and the demo query the raw metrics).
    """
    return sorted(Path("alerts").glob("*.rules.yml"))
