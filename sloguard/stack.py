"""The embedded local stack: start, stop and health of every process, state in one directory.

`up` starts, as children on loopback with free ports: redis-server, the
OPA-compatible policy server, the reference service, a webhook receiver,
prometheus-alertmanager (routing to the receiver) and prometheus (scraping the
service, loading the alert rules, alerting to Alertmanager). DIR/stack.json
(sloguard.stackstate) records ports, URLs, pids, the stack's own random admin token and
the scrape job; `down` stops exactly those pids.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from sloguard.conventions import (
    ADMIN_ROLLOUT_PATH,
    BINARIES,
    DEMO_DEFAULT_ADMIN_TOKEN,
    ENV_DEMO_ADMIN_TOKEN,
    FEATURE_FLAGS,
    ROLLOUT_SCRAPE_JOB,
    SCRAPE_JOB,
)
from sloguard.demo.tokens import new_admin_token
from sloguard.durations import iso
from sloguard.errors import UsageError
from sloguard.processes import LOOPBACK, free_ports, pid_alive, port_in_use, spawn, stop_pid, tail, wait_until
from sloguard.promql import last_successful_scrape
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
# How long a load run on the stack waits for Prometheus to scrape the service: a few scrape intervals.
SCRAPE_WAIT_SECONDS = 30.0


@dataclass
class StackOptions:
    directory: Path
    policies: str | None = None
    decision: str | None = None
    rollout: float | None = None
    rules: Sequence[Path] = ()
    ports: dict[str, int] = field(default_factory=dict)
    admin_token: str | None = None  # None: `up` makes a random one for this stack (a plain plan: the dev default)
    service_args: Sequence[str] = ()
    job: str = SCRAPE_JOB  # the scrape job name of the service in Prometheus's config
    rollout_metrics_port: int | None = None  # a rollout controller's metrics port (loopback) to scrape too


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
    if not options.job.strip():
        raise UsageError("--job must name the scrape job, e.g. sark")
    options = dataclasses.replace(options, admin_token=options.admin_token or new_admin_token())
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
    state = StackState(directory=directory, components=started, admin_token=options.admin_token or "",
                       started_at=time.time(), job=options.job)
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


@dataclass
class StackStatus:
    """What `stack status` reports: each component, the scrape job, whether the admin API takes the stack's token."""

    components: list[ComponentStatus]
    job: str
    admin_ok: bool | None  # None: no service to ask
    admin_detail: str


def status(directory: Path) -> StackStatus:
    """Each component: is its pid running, does it answer its health check; and the service's admin API."""
    state = _existing_state(directory)
    components = []
    for c in state.components.values():
        running = pid_alive(c.pid)
        components.append(ComponentStatus(c.name, c.pid, running, running and c.healthy(), c.url))
    service = next((s for s in components if s.name == "service"), None)
    if service is None or not service.healthy:
        return StackStatus(components, state.job, None, "not asked: the service is not healthy")
    ok, detail = admin_api_status(service.url, state.admin_token)
    return StackStatus(components, state.job, ok, detail)


def admin_api_status(service_url: str, token: str, *, timeout: float = 2.0) -> tuple[bool, str]:
    """Does the service's admin API take `token`; (True, its rollout) or (False, why not)."""
    request = urllib.request.Request(service_url + ADMIN_ROLLOUT_PATH, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            rollout = json.load(response)
        shares = ", ".join(f"{flag} {float(rollout[flag]):g} %" for flag in FEATURE_FLAGS)
    except urllib.error.HTTPError as exc:
        return False, f"the service refused the stack's admin token (HTTP {exc.code})"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"no usable answer from {service_url}{ADMIN_ROLLOUT_PATH} ({exc})"
    return True, f"the stack's token is accepted; rollout {shares}"


def last_scrape(state: StackState, *, timeout: float = 2.0) -> float | None:
    """When the stack's Prometheus last scraped the service successfully (unix s); None before that or unreachable."""
    prometheus = state.components.get("prometheus")
    if prometheus is None:
        return None
    query = urllib.parse.urlencode({"query": last_successful_scrape(state.job)})
    try:
        with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?{query}", timeout=timeout) as response:
            return max((float(item["value"][1]) for item in json.load(response)["data"]["result"]), default=None)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def wait_for_scrape(state: StackState, after: float, *, timeout: float = SCRAPE_WAIT_SECONDS,
                    interval: float = 0.5) -> None:
    """Return once Prometheus has scraped the service successfully at or after `after` (0: ever); else StackError."""
    # A load window opened before the first scrape, or read before a scrape past its end, has an edge
    # without samples: Prometheus scrapes a new target first at a hash-chosen offset, up to a whole
    # interval after it starts, and increase() then extrapolates only half an interval at that edge
    # (throughput read 89.5 req/s at an achieved 100.0; its first sample came 6.7 s into the window).
    if "prometheus" not in state.components:  # nothing scrapes the service: nothing to wait for
        return
    def scraped() -> bool:
        last = last_scrape(state)
        return last is not None and last >= after

    if not wait_until(scraped, timeout=timeout, interval=interval):
        since = f" at or after {iso(after)}" if after > 0 else ""
        raise StackError(f"Prometheus at {state.components['prometheus'].url} did not scrape the service "
                         f"(job {state.job}){since} within {timeout:g} s")


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
            [ports[name]] = free_ports(1, taken={*ports.values(), *fixed.values()})
    return ports


def _python_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sloguard", *args]


def plan_component(name: str, options: StackOptions, ports: Mapping[str, int], binaries: Mapping[str, str], *,
                   log_dir: Path) -> Component:
    """How one component starts (argv, port, URL, log), not started yet; writes the config files it reads."""
    directory = options.directory.resolve()
    port = ports[name]
    base = f"http://{LOOPBACK}:{port}"
    env: dict[str, str] = {}
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
        )
        env = {ENV_DEMO_ADMIN_TOKEN: options.admin_token or DEMO_DEFAULT_ADMIN_TOKEN}
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
        settings = prometheus_config(ports, options.rules, job=options.job,
                                     rollout_metrics_port=options.rollout_metrics_port)
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        argv = [binaries["prometheus"], f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=2d"]
        url = base
    else:  # pragma: no cover - COMPONENTS is closed
        raise AssertionError(name)
    return Component(name=name, port=port, url=url, log=log_dir / f"{name}.log", argv=argv, env=env)


def start_component(c: Component, *, timeout: float = HEALTH_TIMEOUT) -> None:
    """Spawn the component with its argv and env, set its pid, wait until it is healthy (StackError if not)."""
    c.pid = spawn(c.argv, c.log, env={**os.environ, "PYTHONUNBUFFERED": "1", **c.env}).pid
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
                      base: Traversable = SHARED_PROMETHEUS_CONFIG, *, job: str = SCRAPE_JOB,
                      rollout_metrics_port: int | None = None) -> dict[str, Any]:
    """The shared Prometheus config with this stack's loopback addresses, rule files and the service's job name.

    With `rollout_metrics_port`, a second job scrapes a rollout controller's metrics there (`rollout run
    --metrics-port`); until a controller listens, that target is merely down.
    """
    try:
        config = yaml.safe_load(base.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"{base}: cannot read the shared Prometheus config ({exc})") from None
    config["rule_files"] = [str(Path(r).resolve()) for r in rules]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{ports['alertmanager']}"]}]}]}
    services = [c for c in config.get("scrape_configs", []) if c.get("job_name") == SCRAPE_JOB]
    if not services:
        raise StackError(f"{base}: no scrape job {SCRAPE_JOB!r} (the reference service's) in the shared config")
    for scrape in services:
        scrape["job_name"] = job
        scrape["static_configs"] = [{"targets": [f"{LOOPBACK}:{ports['service']}"]}]
    if rollout_metrics_port is not None:
        config["scrape_configs"].append({"job_name": ROLLOUT_SCRAPE_JOB,
                                         "static_configs": [{"targets": [f"{LOOPBACK}:{rollout_metrics_port}"]}]})
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


def rules_for_another_job(rules: Sequence[Path], job: str) -> list[Path]:
    """The rule files whose selectors name a job, but never `job` (generated rules spell it job="NAME")."""
    found = []
    for path in rules:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue  # Prometheus says so when it loads the file
        if 'job="' in text and f'job="{job}"' not in text:
            found.append(Path(path))
    return found


def default_rules() -> list[Path]:
    """alerts/*.rules.yml of the current directory, like the default spec ./sloguard.yaml; none there, none loaded.

    Alert rules are what `sloguard rules generate` writes from the spec; the stack runs
    without them (`sloguard check` and the demo query the raw metrics).
    """
    return sorted(Path("alerts").glob("*.rules.yml"))
