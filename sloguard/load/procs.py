"""The processes a stress run stops and restarts: redis, the policy server and the reference service.

Either started here as children on free loopback ports (a private target for
stress and the tests), or taken from `sloguard stack up`'s DIR/stack.json, whose
components record port, URL, pid and argv. A restart reuses the recorded argv
and port, and writes the new pid back to stack.json so `sloguard stack down`
still stops exactly what runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sloguard.conventions import DEMO_DEFAULT_ADMIN_TOKEN
from sloguard.errors import UsageError
from sloguard.processes import LOOPBACK, free_ports, pid_alive, stop_pid, tcp_ok, wait_until
from sloguard.stack import SERVICE_COMPONENTS, StackOptions, plan_component, require_binary, start_component
from sloguard.stackstate import STATE_FILE, Component, read_state, record_pid

# What `stress --recovery` may stop and restart under load.
DEPENDENCIES = ("redis", "policy-server")


class Target:
    """A running SARK service with its redis and policy server, which it can stop and restart."""

    def __init__(self, procs: dict[str, Component], *, owned: bool, state_dir: Path | None = None,
                 admin_token: str = DEMO_DEFAULT_ADMIN_TOKEN) -> None:
        self.procs = procs
        self.owned = owned  # started here: stopped here
        self.state_dir = state_dir  # a stack's directory: restarts are recorded in its stack.json
        self.admin_token = admin_token

    @property
    def url(self) -> str:
        return self.procs["service"].url

    @property
    def service_pid(self) -> int:
        return self.procs["service"].pid

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path | None = None, *, service_args: tuple[str, ...] = (),
              admin_token: str = DEMO_DEFAULT_ADMIN_TOKEN) -> Target:
        """Start redis-server, the policy server and the service on free loopback ports."""
        binaries = {"redis": require_binary("redis")}
        directory = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sloguard-target-"))
        directory.mkdir(parents=True, exist_ok=True)
        ports = dict(zip(SERVICE_COMPONENTS, free_ports(len(SERVICE_COMPONENTS)), strict=True))
        options = StackOptions(directory=directory, admin_token=admin_token, service_args=service_args)
        procs = {name: plan_component(name, options, ports, binaries, log_dir=directory)
                 for name in SERVICE_COMPONENTS}
        target = cls(procs, owned=True, admin_token=admin_token)
        try:
            for name in SERVICE_COMPONENTS:
                start_component(procs[name])
        except BaseException:
            target.stop()
            raise
        return target

    @classmethod
    def from_stack(cls, directory: Path) -> Target:
        """The redis, policy server and service of a running `sloguard stack up` directory."""
        state_file = directory / STATE_FILE
        state = read_state(directory)
        if state is None:
            raise UsageError(f"{state_file}: no stack state (run `sloguard stack up --dir {directory}`)")
        missing = [name for name in SERVICE_COMPONENTS if name not in state.components]
        if missing:
            raise UsageError(f"{state_file}: not a stack.json with redis, policy-server and service "
                             f"(no {', '.join(missing)})")
        procs = {name: state.components[name] for name in SERVICE_COMPONENTS}
        dead = [name for name, p in procs.items() if not pid_alive(p.pid)]
        if dead:
            raise UsageError(f"{state_file}: {', '.join(dead)} not running (run `sloguard stack status`)")
        return cls(procs, owned=False, state_dir=directory, admin_token=state.admin_token)

    def add_service(self, name: str = "service-b", *service_args: str) -> Component:
        """Start another service process of the same build on the same redis and policy server.

        Replicas for an interleaved run (`sloguard load ab`): an A/A comparison serves both sides
        with processes of one build, so any regression `sloguard compare` reports is a false alarm.
        """
        if not self.owned:
            raise UsageError("a second service can only be added to a target started here")
        base = self.procs["service"]
        [port] = free_ports(1, taken={p.port for p in self.procs.values()})
        argv = list(base.argv)
        argv[argv.index("--port") + 1] = str(port)
        proc = Component(name=name, port=port, url=f"http://{LOOPBACK}:{port}", argv=[*argv, *service_args],
                         log=base.log.with_name(f"{name}.log"), env=dict(base.env))
        self.procs[name] = proc
        start_component(proc)
        return proc

    # ---- control ---------------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """Stop one process (SIGTERM, then SIGKILL)."""
        stop_pid(self.procs[name].pid)

    def restart(self, name: str) -> float:
        """Start a stopped process again with its argv and port; seconds until it was healthy."""
        proc = self.procs[name]
        t0 = time.monotonic()
        # The port may linger for a moment after the old process exits.
        wait_until(lambda: not tcp_ok(proc.port), timeout=5.0)
        start_component(proc)
        if self.state_dir is not None:
            record_pid(self.state_dir, name, proc.pid)
        return time.monotonic() - t0

    def stop(self) -> None:
        """Stop what was started here (a stack's processes are left to `sloguard stack down`)."""
        if not self.owned:
            return
        extra = [name for name in self.procs if name not in SERVICE_COMPONENTS]
        for name in (*extra, *reversed(SERVICE_COMPONENTS)):
            proc = self.procs.get(name)
            if proc is not None and proc.pid:
                stop_pid(proc.pid)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
