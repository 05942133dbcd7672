"""stack.json's one reader and writer, each component's health check, the stack's configs as package data."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sloguard.conventions import DEMO_DEFAULT_ADMIN_TOKEN
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
    assert list(raw) == ["apiVersion", "kind", "directory", "startedAt", "adminToken", "components"]
    assert list(raw["components"]["service"]) == ["name", "port", "url", "pid", "log", "argv"]
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
