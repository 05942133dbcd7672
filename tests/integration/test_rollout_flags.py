"""AdminApiSetter against the real reference service (redis-server, the policy server, `sloguard demo serve`)."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.rollout.flags import AdminApiSetter, CommandSetter, FlagError
from tests.integration.test_demo_service import ADMIN, start_policy_server, start_redis, start_service
from tests.support.processes import ProcessGroup, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service_url(module_processes: ProcessGroup, redis_server_bin: str) -> Iterator[str]:
    redis_port, policy_port, port = free_port(), free_port(), free_port()
    start_redis(module_processes, redis_server_bin, redis_port)
    start_policy_server(module_processes, policy_port)
    start_service(module_processes, port, policy_port, redis_port, "--rollout", "50")
    yield f"http://127.0.0.1:{port}"


def exported_rollout(url: str) -> dict[str, float]:
    """feature_flag_rollout_percentage{feature} as the service's /metrics exports it."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        sample.labels[c.LABEL_FEATURE]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == c.FLAG_ROLLOUT
    }


def test_set_25_reads_back_25_and_the_service_exports_25(service_url: str) -> None:
    setter = AdminApiSetter(service_url, ADMIN)
    setter.set(c.FLAG_RUST_OPA, 25)
    assert setter.get(c.FLAG_RUST_OPA) == 25.0
    assert setter.get(c.FLAG_RUST_CACHE) == 50.0  # one flag moves, the other stays
    assert exported_rollout(service_url) == {c.FLAG_RUST_OPA: 25.0, c.FLAG_RUST_CACHE: 50.0}


def test_every_step_and_the_rollback_reach_the_service(service_url: str) -> None:
    setter = AdminApiSetter(service_url, ADMIN)
    for percent in (5, 10, 25, 50, 100, 0, 12.5):
        setter.set(c.FLAG_RUST_CACHE, percent)
        assert setter.get(c.FLAG_RUST_CACHE) == percent
        assert exported_rollout(service_url)[c.FLAG_RUST_CACHE] == percent


def test_the_token_from_the_environment_and_a_wrong_token(service_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(c.ENV_DEMO_ADMIN_TOKEN, ADMIN)
    AdminApiSetter.from_env(service_url).set(c.FLAG_RUST_OPA, 10)
    assert exported_rollout(service_url)[c.FLAG_RUST_OPA] == 10.0
    monkeypatch.setenv(c.ENV_DEMO_ADMIN_TOKEN, "not-the-token")
    with pytest.raises(FlagError, match=rf"refused the admin token \(401\): set \${c.ENV_DEMO_ADMIN_TOKEN} ") as caught:
        AdminApiSetter.from_env(service_url).set(c.FLAG_RUST_OPA, 100)
    assert "not-the-token" not in str(caught.value)
    assert exported_rollout(service_url)[c.FLAG_RUST_OPA] == 10.0  # refused: nothing moved


def test_a_command_hook_drives_the_same_service(service_url: str, tmp_path: Path) -> None:
    # A stand-in for "any flag system": a script of the user's that talks to the service itself.
    hook = tmp_path / "set-flag"
    hook.write_text(
        f"#!{sys.executable}\nimport json, os, sys, urllib.request\n"
        f"request = urllib.request.Request({service_url!r} + {c.ADMIN_ROLLOUT_PATH!r}, method='PUT',\n"
        "    data=json.dumps({sys.argv[1]: float(sys.argv[2])}).encode(),\n"
        "    headers={'Authorization': 'Bearer ' + os.environ['HOOK_TOKEN'], 'Content-Type': 'application/json'})\n"
        "urllib.request.urlopen(request, timeout=5).read()\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    CommandSetter([str(hook), "{flag}", "{percent}"], env={"HOOK_TOKEN": ADMIN}).set(c.FLAG_RUST_OPA, 25)
    assert AdminApiSetter(service_url, ADMIN).get(c.FLAG_RUST_OPA) == 25.0
    assert exported_rollout(service_url)[c.FLAG_RUST_OPA] == 25.0
    with pytest.raises(FlagError, match=r"exited 1: .*HTTP Error 401"):
        CommandSetter([str(hook), "{flag}", "{percent}"], env={"HOOK_TOKEN": "wrong"}).set(c.FLAG_RUST_OPA, 50)
