"""Real processes for tests and benchmarks: free ports, start with logs, bounded readiness, stop by pid.

Plain functions and classes (no pytest) so benchmarks and scripts can use them too;
tests/conftest.py wraps them into fixtures.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

# Debian package that ships each binary the tests run, for skip messages.
DEBIAN_PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "redis-server": "redis-server",
}

_handed_out: set[int] = set()
_running: dict[int, ProcessHandle] = {}


class ProcessError(RuntimeError):
    """A process did not start, died, or did not become ready in time; carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now and that this test process has not handed out before."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise ProcessError("could not find a free port")


def closed_port(host: str = "127.0.0.1") -> int:
    """A port with nothing listening, for "backend unreachable" tests."""
    return free_port(host)


def find_binary(name: str) -> str | None:
    """The binary's path, or None when it is not installed."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )


def missing_binary_message(name: str) -> str:
    package = DEBIAN_PACKAGES.get(name, name)
    return f"{name} is not installed (Debian package {package}: apt-get install {package})"


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answers (for readiness checks)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


class ProcessHandle:
    """One child process with stdout/stderr in log files; stopped by its pid."""

    def __init__(self, name: str, argv: Sequence[str], popen: subprocess.Popen[bytes], log_dir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.popen = popen
        self.pid = popen.pid
        self.log_dir = log_dir
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"

    @classmethod
    def start(
        cls,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> ProcessHandle:
        """Start argv with its output in log_dir/<name>.{stdout,stderr}.log."""
        log_dir.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        with (
            open(log_dir / f"{name}.stdout.log", "wb") as out,
            open(log_dir / f"{name}.stderr.log", "wb") as err,
        ):
            # A new session keeps a Ctrl-C aimed at pytest from reaching the child first,
            # so teardown, not the signal, decides how it stops.
            popen = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        handle = cls(name, argv, popen, log_dir)
        _running[handle.pid] = handle
        return handle

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in (self.stderr_path, self.stdout_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    parts.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or "(no output)"

    def wait_until(
        self, ready: Callable[[], bool], *, timeout: float = 30.0, interval: float = 0.1, what: str = "ready"
    ) -> None:
        """Poll `ready` until it is true; fail early if the process exits, and after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise ProcessError(
                    f"{self.name} (pid {self.pid}) exited with {self.returncode} before it was {what}\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise ProcessError(
                    f"{self.name} (pid {self.pid}) was not {what} within {timeout:g} s\n{self.log_tail()}"
                )
            time.sleep(interval)

    def wait_http(self, url: str, *, timeout: float = 30.0, status: int = 200) -> None:
        """Wait until GET url answers `status`."""
        self.wait_until(lambda: http_status(url) == status, timeout=timeout, what=f"answering {url}")

    def wait_port(self, port: int, *, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        """Wait until something accepts TCP connections on host:port."""
        self.wait_until(lambda: port_open(port, host), timeout=timeout, what=f"listening on {host}:{port}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL; returns the exit code."""
        _running.pop(self.pid, None)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        return self.popen.returncode

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ProcessHandle({self.name!r}, pid={self.pid}, alive={self.alive()})"


class ProcessGroup:
    """Processes started together and stopped together, last started first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.handles: list[ProcessHandle] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> ProcessHandle:
        taken = {h.name for h in self.handles}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}-{n}"
        handle = ProcessHandle.start(argv, name=unique, log_dir=self.log_dir, env=env, cwd=cwd)
        self.handles.append(handle)
        return handle

    def stop_all(self) -> None:
        while self.handles:
            self.handles.pop().stop()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()


@atexit.register
def _stop_leftovers() -> None:
    """A crashed session must not leave children behind: stop what is still registered, by pid."""
    for handle in list(_running.values()):
        with contextlib.suppress(Exception):
            handle.stop(timeout=5)


def interrupt_when(argv: Sequence[str], ready: Callable[[], bool], *, wait: float = 60.0) -> tuple[int, str]:
    """Start argv, send SIGINT (Ctrl-C) once `ready()` is true (or after `wait` s); (exit code, stderr)."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr
