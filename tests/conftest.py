"""Shared fixtures for tests that start real processes: binaries (skip only when absent),
process groups stopped by pid at teardown, fake misbehaving HTTP backends, the sloguard CLI."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import CliResult, run_sloguard
from tests.support.fakehttp import FakeHTTPServer, Responder
from tests.support.processes import ProcessGroup, find_binary, missing_binary_message


def require_binary(name: str) -> str:
    """The binary's path; skips the test (naming the Debian package) when it is not installed."""
    path = find_binary(name)
    if path is None:
        pytest.skip(missing_binary_message(name))
    return path


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return require_binary("prometheus")


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return require_binary("prometheus-alertmanager")


@pytest.fixture(scope="session")
def amtool_bin() -> str:
    return require_binary("amtool")


@pytest.fixture(scope="session")
def redis_server_bin() -> str:
    return require_binary("redis-server")


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    path = find_binary("openssl")
    if path is None:
        pytest.skip("openssl is not installed (Debian package openssl: apt-get install openssl)")
    return path


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    """Processes for one test; logs in tmp_path/logs; all stopped (by pid) at teardown."""
    with ProcessGroup(tmp_path / "logs") as group:
        yield group


def _module_dir_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", request.module.__name__.rsplit(".", 1)[-1])[:40]


@pytest.fixture(scope="module")
def module_processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProcessGroup]:
    """Processes shared by one test module (e.g. one Prometheus for many tests)."""
    log_dir = tmp_path_factory.mktemp(f"{_module_dir_name(request)}-logs")
    with ProcessGroup(log_dir) as group:
        yield group


@pytest.fixture
def fake_http() -> Iterator[Callable[[Responder], FakeHTTPServer]]:
    """Start a small HTTP server on loopback whose answers the test scripts (a misbehaving backend)."""
    servers: list[FakeHTTPServer] = []

    def start(responder: Responder) -> FakeHTTPServer:
        server = FakeHTTPServer(responder)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def sloguard_cli() -> Callable[..., CliResult]:
    """Run the installed `sloguard` console script as a subprocess (the real CLI, exit code and stderr)."""
    return run_sloguard


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI (CI=true) a skip is a failure: CI installs every binary, so nothing may be skipped there."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every binary is installed: {reason}"
