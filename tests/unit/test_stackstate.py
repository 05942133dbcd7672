"""stack.json's one reader and writer, each component's health check, the stack's configs as package data."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sloguard.conventions import DEMO_DEFAULT_ADMIN_TOKEN
from sloguard.load.commands import target_from
from sloguard.load.procs import Target
from sloguard.stack import SHARED_ALERTMANAGER_CONFIG, SHARED_PROMETHEUS_CONFIG
from sloguard.stackstate import STATE_FILE, Component, StackError, StackState, read_state, record_pid, write_state

ROOT = Path(__file__).resolve().parents[2]


def component(name: str, port: int = 1, pid: int = 0) -> Component:
    return Component(name=name, port=port, url=f"http://127.0.0.1:{port}", pid=pid, log=Path(f"/tmp/{name}.log"),
                     argv=["x", "--port", str(port)])


def test_written_state_reads_back_and_keeps_the_keys_and_their_order(tmp_path: Path) -> None:
    state = StackState(directory=tmp_path, components={"redis": component("redis", 5), "service": component(
        "service", 6, pid=42)}, admin_token="secret", started_at=1700000000.5)
    write_state(state)
    raw = json.loads((tmp_path / STATE_FILE).read_text())
    assert list(raw) == ["apiVersion", "kind", "directory", "startedAt", "adminToken", "job", "components"]
    assert list(raw["components"]["service"]) == ["name", "port", "url", "pid", "log", "argv", "env"]
    assert raw["components"]["service"]["log"] == "/tmp/service.log"
    assert read_state(tmp_path) == state


def test_the_state_file_holds_the_admin_token_so_only_its_owner_reads_it(tmp_path: Path) -> None:
    write_state(StackState(directory=tmp_path, components={}))
    assert stat.S_IMODE((tmp_path / STATE_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left behind


def test_a_state_with_components_only_reads_with_the_token_the_service_was_started_with(tmp_path: Path) -> None:
    service = component("service")
    service.argv += ["--admin-token", "from-argv"]
    (tmp_path / STATE_FILE).write_text(json.dumps({"components": {"service": service.to_json()}}))
    state = read_state(tmp_path)
    assert state is not None and state.admin_token == "from-argv" and state.started_at is None
    (tmp_path / STATE_FILE).write_text(json.dumps({"components": {"redis": component("redis").to_json()}}))
    state = read_state(tmp_path)
    assert state is not None and state.admin_token == DEMO_DEFAULT_ADMIN_TOKEN


@pytest.mark.parametrize("text", ["{not json", "[]", '{"components": []}',
                                  '{"components": {"redis": {"name": "redis"}}}',
                                  '{"components": {"redis": {"name": "redis", "port": "x", "url": "", "pid": 1, '
                                  '"log": "", "argv": []}}}'])
def test_anything_else_is_an_unreadable_state(tmp_path: Path, text: str) -> None:
    (tmp_path / STATE_FILE).write_text(text)
    with pytest.raises(StackError, match="unreadable stack state"):
        read_state(tmp_path)


def test_no_state_file_is_no_state(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None


def test_a_restart_records_the_new_pid(tmp_path: Path) -> None:
    write_state(StackState(directory=tmp_path, components={"redis": component("redis", pid=10)}))
    record_pid(tmp_path, "redis", 11)
    state = read_state(tmp_path)
    assert state is not None and state.components["redis"].pid == 11


def test_each_component_has_its_health_check() -> None:
    assert component("redis").health_url() is None  # an open port
    assert component("policy-server", 7).health_url() == "http://127.0.0.1:7/health"
    assert component("receiver", 7).health_url() == "http://127.0.0.1:7/health"
    assert component("prometheus", 7).health_url() == "http://127.0.0.1:7/-/ready"
    assert component("alertmanager", 7).health_url() == "http://127.0.0.1:7/-/ready"
    assert component("service", 7).health_url() == "http://127.0.0.1:7/ready"
    assert component("service-b", 7).health_url() == "http://127.0.0.1:7/ready"  # a replica of load ab


def test_the_configs_docker_compose_mounts_are_the_package_data_the_stack_reads() -> None:
    shared_configs = {"prometheus.yml": SHARED_PROMETHEUS_CONFIG, "alertmanager.yml": SHARED_ALERTMANAGER_CONFIG}
    for name, shared in shared_configs.items():
        assert (ROOT / "alerts" / name).resolve() == Path(str(shared)).resolve(), f"alerts/{name} is not the link"
        assert shared.read_text(encoding="utf-8") == (ROOT / "alerts" / name).read_text(encoding="utf-8")


def running_stack(directory: Path, token: str) -> None:
    """A stack.json whose redis, policy server and service "run" (this test's pid), with an admin token."""
    pid = os.getpid()
    write_state(StackState(directory=directory, admin_token=token, components={
        name: component(name, port, pid=pid) for port, name in enumerate(("redis", "policy-server", "service"), 1)
    }))


def test_load_and_stress_with_a_stack_use_the_stack_s_token_even_with_another_in_the_environment(
        tmp_path: Path) -> None:
    running_stack(tmp_path, "the-stack-token")
    # `load run --stack DIR` reads --admin-token from $SLOGUARD_DEMO_ADMIN_TOKEN too: a token set there
    # for another service must not replace the one this stack's service was started with.
    assert target_from(None, str(tmp_path), "token-from-the-environment", False) == (
        "http://127.0.0.1:3", "the-stack-token")
    assert target_from(None, str(tmp_path), None, False)[1] == "the-stack-token"
    assert Target.from_stack(tmp_path).admin_token == "the-stack-token"  # stress --stack


def test_the_token_is_read_from_the_service_s_environment_when_the_state_lacks_it(tmp_path: Path) -> None:
    service = component("service")
    service.env = {"SLOGUARD_DEMO_ADMIN_TOKEN": "from-env"}
    (tmp_path / STATE_FILE).write_text(json.dumps({"components": {"service": service.to_json()}}))
    state = read_state(tmp_path)
    assert state is not None and state.admin_token == "from-env" and state.job == "sark"
