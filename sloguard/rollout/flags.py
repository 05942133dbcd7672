"""Setting a rollout flag: the reference service's admin API, or a command hook that drives any flag system."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sloguard import conventions as c
from sloguard.errors import SloguardError, UsageError
from sloguard.processes import check_base_url, is_loopback
from sloguard.rollout.plan import CommandSetting, FlagSetting

# The placeholders a command template may hold; nothing else in an argument is interpreted (no shell, no format()).
FLAG_PLACEHOLDER = "{flag}"
PERCENT_PLACEHOLDER = "{percent}"
DEFAULT_COMMAND_TIMEOUT = 30.0  # seconds; a flag system that takes longer is treated as failed
DEFAULT_HTTP_TIMEOUT = 5.0
_TAIL_CHARS = 300  # of a failed command's stderr, in the one-line error


class FlagError(SloguardError):
    """The flag system refused a change, failed, or reported something other than what was asked."""


class FlagSetter(Protocol):
    """Moves one feature flag's rollout percentage and reads it back."""

    def set(self, flag: str, percent: float) -> None:
        """Set the flag to `percent` (0-100); FlagError when the flag system did not take it."""
        ...

    def get(self, flag: str) -> float:
        """The share of users (0-100) the flag sends to the Rust path now."""
        ...


def format_percent(percent: float) -> str:
    """A percentage as a flag system reads it: 25.0 -> "25", 12.5 -> "12.5"."""
    return f"{percent:g}"


def check_percent(percent: float) -> float:
    """`percent` as a float within 0-100; UsageError otherwise (a plan bug, never a flag system's fault)."""
    value = float(percent)
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise UsageError(f"a rollout percentage must be within 0-100, got {percent!r}")
    return value


def setter_for(setting: FlagSetting, *, cwd: Path | None = None, allow_remote: bool = False) -> FlagSetter:
    """The setter a plan's flagSetter names; a command runs in `cwd` (the plan file's directory)."""
    if isinstance(setting, CommandSetting):
        return CommandSetter(setting.argv, cwd=cwd)
    return AdminApiSetter.from_env(setting.url, setting.token_env, allow_remote=allow_remote)


class AdminApiSetter:
    """The reference service's PUT/GET /admin/rollout with its bearer token; loopback only unless allowed."""

    def __init__(self, url: str, token: str, *, allow_remote: bool = False, timeout: float = DEFAULT_HTTP_TIMEOUT,
                 token_hint: str = "pass the token the service was started with") -> None:
        # The bearer token would travel to another machine: the user has to say so.
        self.url = check_base_url(url, name="the admin API URL", allow_remote=allow_remote,
                                  refusal="refusing to send the admin token to {host}: only loopback (127.0.0.1) "
                                          "unless remote hosts are allowed")
        if not token:
            raise UsageError("the admin API needs a bearer token")
        parts = urlsplit(url)
        # A proxy from the environment (http_proxy) would see the token: loopback is always reached directly.
        handlers = [urllib.request.ProxyHandler({})] if is_loopback(parts.hostname or "") else []
        self._opener = urllib.request.build_opener(*handlers)
        self._token = token  # never printed: errors name the URL and the status only
        self.timeout = timeout
        self.token_hint = token_hint  # what a 401 tells the user to do

    @classmethod
    def from_env(cls, url: str, token_env: str = c.ENV_DEMO_ADMIN_TOKEN, *, allow_remote: bool = False
                 ) -> AdminApiSetter:
        """The token from $token_env, else the documented dev default (as `demo serve` and `load run` do)."""
        token = os.environ.get(token_env) or c.DEMO_DEFAULT_ADMIN_TOKEN
        return cls(url, token, allow_remote=allow_remote,
                   token_hint=f"set ${token_env} to the token the service was started with")

    def __repr__(self) -> str:
        return f"AdminApiSetter({self.url!r})"

    def set(self, flag: str, percent: float) -> None:
        value = check_percent(percent)
        state = self._request("PUT", {_known_flag(flag): value})
        reported = state.get(flag)
        if not isinstance(reported, int | float) or float(reported) != value:
            raise FlagError(f"PUT {c.ADMIN_ROLLOUT_PATH} on {self.url} asked {flag} {format_percent(value)} % "
                            f"but the service reports {reported!r}")

    def get(self, flag: str) -> float:
        """The effective percentage: 0 while the service's RUST_ENABLED kill switch is off, as its gauge says."""
        _known_flag(flag)
        state = self._request("GET", None)
        effective = state.get("effective")
        reported = effective.get(flag) if isinstance(effective, dict) else state.get(flag)
        if not isinstance(reported, int | float):
            raise FlagError(f"GET {c.ADMIN_ROLLOUT_PATH} on {self.url} reports no percentage for {flag}")
        return float(reported)

    def _request(self, method: str, body: Any) -> dict[str, Any]:
        where = f"{method} {c.ADMIN_ROLLOUT_PATH} on {self.url}"
        request = urllib.request.Request(
            self.url + c.ADMIN_ROLLOUT_PATH, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise FlagError(f"{where} refused the admin token (401): {self.token_hint}") from None
            raise FlagError(f"{where} answered {exc.code}{_detail(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FlagError(f"{where} failed: {getattr(exc, 'reason', exc)}") from None
        try:
            state = json.loads(text)
        except ValueError:
            state = None
        if not isinstance(state, dict):
            raise FlagError(f"{where} answered something that is not a rollout state object")
        return state


class CommandSetter:
    """Runs a command template per change, e.g. ["./set-flag.sh", "{flag}", "{percent}"]: no shell, a timeout.

    `read_argv` (optional, with {flag}) prints the flag's current percentage on stdout; without it
    `get` answers the percentage this setter last set, and FlagError before any.
    """

    def __init__(self, argv: Sequence[str], *, read_argv: Sequence[str] | None = None,
                 timeout: float = DEFAULT_COMMAND_TIMEOUT, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise UsageError("a flag command is a non-empty list of strings, e.g. [./set-flag.sh, {flag}, {percent}]")
        if not any(PERCENT_PLACEHOLDER in arg for arg in argv):
            raise UsageError(f"the flag command {shlex.join(argv)} never passes {PERCENT_PLACEHOLDER}")
        if read_argv is not None and not read_argv:
            raise UsageError("a flag read command is a non-empty list of strings")
        if not timeout > 0:
            raise UsageError(f"a flag command's timeout must be positive, got {timeout!r}")
        self.argv = list(argv)
        self.read_argv = None if read_argv is None else list(read_argv)
        self.timeout = timeout
        self.cwd = cwd
        self.env = None if env is None else dict(env)
        self._last_set: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"CommandSetter({self.argv!r})"

    def set(self, flag: str, percent: float) -> None:
        value = check_percent(percent)
        self._run(fill(self.argv, _named_flag(flag), value))
        self._last_set[flag] = value

    def get(self, flag: str) -> float:
        if self.read_argv is None:
            if flag not in self._last_set:
                raise FlagError(f"cannot read {flag} back: the flag command has no read command and has not set it")
            return self._last_set[flag]
        argv = fill(self.read_argv, _named_flag(flag), None)
        out = self._run(argv).strip()
        try:
            return check_percent(float(out))
        except (ValueError, UsageError):
            raise FlagError(f"flag read command {_shown(argv)} printed {out[:80]!r}, not a percentage 0-100") from None

    def _run(self, argv: list[str]) -> str:
        """The command's stdout; FlagError with the stderr tail on a non-zero exit, a timeout or no such command."""
        env = None if self.env is None else {**os.environ, **self.env}
        try:
            # Its own session, so a timeout kills the command and whatever it started, not just the first process.
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       cwd=self.cwd, env=env, start_new_session=True)
        except OSError as exc:
            raise FlagError(f"flag command {_shown(argv)} could not start: {exc.strerror or exc}") from None
        try:
            out, err = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_session(process)
            out, err = process.communicate()
            raise FlagError(f"flag command {_shown(argv)} timed out after {self.timeout:g} s{_tail(err)}") from None
        except BaseException:  # Ctrl-C while the flag system works: leave nothing running behind
            _kill_session(process)
            process.wait()
            raise
        if process.returncode != 0:
            raise FlagError(f"flag command {_shown(argv)} exited {process.returncode}{_tail(err)}")
        return out.decode("utf-8", "replace")


def fill(template: Sequence[str], flag: str, percent: float | None) -> list[str]:
    """The template's arguments with {flag} and {percent} replaced; every other character is kept as written."""
    filled = []
    for arg in template:
        arg = arg.replace(FLAG_PLACEHOLDER, flag)
        if percent is not None:
            arg = arg.replace(PERCENT_PLACEHOLDER, format_percent(percent))
        filled.append(arg)
    return filled


def _known_flag(flag: str) -> str:
    if flag not in c.FEATURE_FLAGS:
        raise UsageError(f"unknown feature flag {flag!r} (expected one of {', '.join(c.FEATURE_FLAGS)})")
    return flag


def _named_flag(flag: str) -> str:
    if not flag:
        raise UsageError("a flag command needs a flag name")
    return flag


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it and its children are gone already
        os.killpg(process.pid, signal.SIGKILL)


def _shown(argv: Sequence[str]) -> str:
    shown = shlex.join(argv)
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _tail(stderr: bytes | None) -> str:
    """': <last stderr lines, on one line>' or '' when the command said nothing."""
    text = " | ".join(line.strip() for line in (stderr or b"").decode("utf-8", "replace").splitlines() if line.strip())
    if not text:
        return ""
    return ": " + (text if len(text) <= _TAIL_CHARS else "..." + text[-_TAIL_CHARS:])


def _detail(exc: urllib.error.HTTPError) -> str:
    """': <detail>' of the service's JSON error body, or ''."""
    try:
        detail = json.loads(exc.read().decode("utf-8", "replace")).get("detail")
    except (ValueError, AttributeError, OSError):
        return ""
    return f": {detail}" if isinstance(detail, str) and detail else ""
