"""The processes a stress run stops and restarts: redis, the policy server and the reference service.

Either started here as children on free loopback ports (a private target for
stress and the tests), or taken from `sloguard stack up`'s DIR/stack.json, whose
components record port, URL, pid and argv. A restart reuses the recorded argv
and port, and writes the new pid back to stack.json so `sloguard stack down`
still stops exactly what runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloguard.conventions import BINARIES, DEMO_DEFAULT_ADMIN_TOKEN
from sloguard.errors import BackendError, UsageError
from sloguard.processes import LOOPBACK, free_port, http_ok, pid_alive, spawn, stop_pid, tail, tcp_ok, wait_until

DEPENDENCIES = ("redis", "policy-server")
_START_TIMEOUT = 30.0


@dataclass
class Proc:
    name: str
    port: int
    url: str
    argv: list[str]
    log: Path
    pid: int = 0

    def healthy(self) -> bool:
        if self.name == "redis":
            return tcp_ok(self.port)
        # The services (the target and any second one) report readiness; the policy server health.
        return http_ok(f"{self.url}{'/health' if self.name == 'policy-server' else '/ready'}")


class Target:
    """A running SARK service with its redis and policy server, which it can stop and restart."""

    def __init__(self, procs: dict[str, Proc], *, owned: bool, state_file: Path | None = None,
                 admin_token: str = DEMO_DEFAULT_ADMIN_TOKEN, workdir: Path | None = None) -> None:
        self.procs = procs
        self.owned = owned  # started here: stopped here
        self.state_file = state_file
        self.admin_token = admin_token
        self.workdir = workdir

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
        redis = shutil.which(BINARIES["redis"][0])
        if redis is None:
            raise UsageError(f"redis-server not found: install the Debian package {BINARIES['redis'][1]}")
        directory = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="sloguard-target-"))
        directory.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in ("redis", "policy-server", "service")}
        py = [sys.executable, "-m", "sloguard", "demo"]
        procs = {
            "redis": Proc("redis", ports["redis"], f"redis://{LOOPBACK}:{ports['redis']}/0",
                          [redis, "--port", str(ports["redis"]), "--bind", LOOPBACK, "--save", "",
                           "--appendonly", "no", "--dir", str(directory)], directory / "redis.log"),
            "policy-server": Proc("policy-server", ports["policy-server"],
                                  f"http://{LOOPBACK}:{ports['policy-server']}",
                                  [*py, "policy-server", "--host", LOOPBACK, "--port", str(ports["policy-server"])],
                                  directory / "policy-server.log"),
            "service": Proc("service", ports["service"], f"http://{LOOPBACK}:{ports['service']}",
                            [*py, "serve", "--host", LOOPBACK, "--port", str(ports["service"]),
                             "--opa-url", f"http://{LOOPBACK}:{ports['policy-server']}",
                             "--redis-url", f"redis://{LOOPBACK}:{ports['redis']}/0",
                             "--admin-token", admin_token, *service_args], directory / "service.log"),
        }  # fmt: skip
        target = cls(procs, owned=True, admin_token=admin_token, workdir=directory)
        try:
            for name in ("redis", "policy-server", "service"):
                target._launch(procs[name])
        except BaseException:
            target.stop()
            raise
        return target

    @classmethod
    def from_stack(cls, directory: Path) -> Target:
        """The redis, policy server and service of a running `sloguard stack up` directory."""
        state_file = directory / "stack.json"
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            components: dict[str, Any] = state["components"]
            procs = {}
            for name in ("redis", "policy-server", "service"):
                comp = components[name]
                procs[name] = Proc(name, int(comp["port"]), str(comp["url"]), list(comp["argv"]),
                                   Path(comp["log"]), int(comp["pid"]))
        except FileNotFoundError:
            raise UsageError(f"{state_file}: no stack state (run `sloguard stack up --dir {directory}`)") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{state_file}: not a stack.json with redis, policy-server and service ({exc})") from None
        dead = [name for name, p in procs.items() if not pid_alive(p.pid)]
        if dead:
            raise UsageError(f"{state_file}: {', '.join(dead)} not running (run `sloguard stack status`)")
        argv = procs["service"].argv
        token = argv[argv.index("--admin-token") + 1] if "--admin-token" in argv else DEMO_DEFAULT_ADMIN_TOKEN
        return cls(procs, owned=False, state_file=state_file, admin_token=token)

    def add_service(self, name: str = "service-b", *service_args: str) -> Proc:
        """Start another service process of the same build on the same redis and policy server.

        Replicas for an interleaved run (`sloguard load ab`): an A/A comparison serves both sides
        with processes of one build, so any regression `sloguard compare` reports is a false alarm.
        """
        if not self.owned:
            raise UsageError("a second service can only be added to a target started here")
        base = self.procs["service"]
        port = free_port()
        argv = list(base.argv)
        argv[argv.index("--port") + 1] = str(port)
        proc = Proc(name, port, f"http://{LOOPBACK}:{port}", [*argv, *service_args],
                    base.log.with_name(f"{name}.log"))
        self.procs[name] = proc
        self._launch(proc)
        return proc

    # ---- control ---------------------------------------------------------------------------

    def _launch(self, proc: Proc) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc.pid = spawn(proc.argv, proc.log, env=env).pid
        if not wait_until(proc.healthy, timeout=_START_TIMEOUT, alive=lambda: pid_alive(proc.pid)):
            stop_pid(proc.pid)
            raise BackendError(f"{proc.name} did not become healthy; log {proc.log}: {tail(proc.log)}")

    def kill(self, name: str) -> None:
        """Stop one process (SIGTERM, then SIGKILL)."""
        stop_pid(self.procs[name].pid)

    def restart(self, name: str) -> float:
        """Start a stopped process again with its argv and port; seconds until it was healthy."""
        proc = self.procs[name]
        t0 = time.monotonic()
        # The port may linger for a moment after the old process exits.
        wait_until(lambda: not tcp_ok(proc.port), timeout=5.0)
        self._launch(proc)
        self._record_pid(proc)
        return time.monotonic() - t0

    def _record_pid(self, proc: Proc) -> None:
        if self.state_file is None:
            return
        state = json.loads(self.state_file.read_text(encoding="utf-8"))
        state["components"][proc.name]["pid"] = proc.pid
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_file)

    def stop(self) -> None:
        """Stop what was started here (a stack's processes are left to `sloguard stack down`)."""
        if not self.owned:
            return
        extra = [name for name in self.procs if name not in ("service", *DEPENDENCIES)]
        for name in (*extra, "service", "policy-server", "redis"):
            proc = self.procs.get(name)
            if proc is not None and proc.pid:
                stop_pid(proc.pid)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
