"""`sloguard stack up|down|status` with the real binaries: health, state, failures, clean-up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from sloguard.conventions import BINARIES, DEMO_DEFAULT_ADMIN_TOKEN
from sloguard.processes import pid_alive, wait_until
from tests.support.processes import find_binary, missing_binary_message

pytestmark = pytest.mark.integration

for _key in ("redis", "prometheus", "alertmanager"):
    _binary = BINARIES[_key][0]
    if find_binary(_binary) is None:
        pytestmark = [pytest.mark.integration, pytest.mark.skip(reason=missing_binary_message(_binary))]


def sloguard(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sloguard", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def state_of(directory: Path) -> dict:
    return json.loads((directory / "stack.json").read_text())


def all_pids(directory: Path) -> list[int]:
    return [c["pid"] for c in state_of(directory)["components"].values()]


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("stack")
    result = sloguard("stack", "up", "--dir", str(directory), "--rollout", "50")
    assert result.returncode == 0, result.stderr + result.stdout
    pids = all_pids(directory)
    yield directory
    if (directory / "stack.json").exists():
        sloguard("stack", "down", "--dir", str(directory))
    assert not [p for p in pids if pid_alive(p)], "processes left behind after stack down"


def test_up_writes_ports_urls_and_pids_and_every_component_is_healthy(stack_dir: Path) -> None:
    state = state_of(stack_dir)
    assert set(state["components"]) == {"redis", "policy-server", "service", "receiver", "alertmanager",
                                         "prometheus"}
    ports = [c["port"] for c in state["components"].values()]
    assert len(set(ports)) == len(ports)
    assert all(c["url"].startswith(("http://127.0.0.1:", "redis://127.0.0.1:")) for c in state["components"].values())
    status = sloguard("stack", "status", "--dir", str(stack_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("healthy") == 6
    assert "admin API      the stack's token is accepted; rollout rust_opa 50 %, rust_cache 50 %" in status.stdout
    assert "scrape job     sark" in status.stdout


def admin_status(service_url: str, token: str) -> int:
    request = urllib.request.Request(f"{service_url}/admin/rollout", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_service_takes_the_stack_s_own_token_and_not_the_default(stack_dir: Path) -> None:
    state = state_of(stack_dir)
    token, service = state["adminToken"], state["components"]["service"]
    assert token != DEMO_DEFAULT_ADMIN_TOKEN and len(token) >= 40
    assert admin_status(service["url"], token) == 200
    assert admin_status(service["url"], DEMO_DEFAULT_ADMIN_TOKEN) == 401
    # Other local users can read a process's argv; the token is only in its environment (readable by us).
    cmdline = Path(f"/proc/{service['pid']}/cmdline").read_bytes().decode()
    assert token not in cmdline and "--admin-token" not in cmdline
    assert token in Path(f"/proc/{service['pid']}/environ").read_bytes().decode()


def scraped(prometheus: str, job: str) -> bool:
    query = urllib.parse.urlencode({"query": f'up{{job="{job}"}}'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=2) as response:
        result = json.load(response)["data"]["result"]
    return bool(result) and result[0]["value"][1] == "1"


def test_prometheus_scrapes_the_reference_service(stack_dir: Path) -> None:
    prometheus = state_of(stack_dir)["components"]["prometheus"]["url"]
    assert wait_until(lambda: scraped(prometheus, "sark"), timeout=60, interval=0.5), \
        "Prometheus never scraped the service"


def first_scrape(prometheus: str, job: str) -> float:
    """The time of the first sample of `up` for the job: Prometheus' first scrape of the service."""
    query = urllib.parse.urlencode({"query": f'up{{job="{job}"}}[1h]'})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=5) as response:
        [series] = json.load(response)["data"]["result"]
    return float(series["values"][0][0])


THROUGHPUT_SPEC = {
    "apiVersion": "sloguard/v1", "kind": "SLOSet", "metadata": {"name": "rate"},
    "spec": {"service": "sark", "selector": {"job": "sark"}, "minEvents": 1,
             "variables": {"minThroughput": 0},  # the profile's sloVariables set it; this spec does not judge it
             "objectives": [{"name": "rps", "sli": {"throughput": {"metric": "sark_authz_requests_total"}},
                             "objective": {"min": 0}}]},
}


def test_a_load_run_right_after_stack_up_opens_its_window_after_the_first_scrape(tmp_path: Path) -> None:
    # The case: `load run --stack` straight after `stack up` (here with no warm-up, so the window
    # opens at once), then `check --run`. Prometheus scrapes a new target first up to 5 s after it starts.
    stack = tmp_path / "stack"
    up = sloguard("stack", "up", "--dir", str(stack))
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        run = sloguard("load", "run", "quick", "--stack", str(stack), "--open-loop", "--rate", "50", "--warmup",
                       "0s", "--duration", "20s", "--no-progress", "--output-dir", str(tmp_path / "run"))
        assert run.returncode == 0, run.stderr + run.stdout
        doc = json.loads((tmp_path / "run" / "run.json").read_text())
        prometheus = state_of(stack)["components"]["prometheus"]["url"]
        assert doc["window"]["start"] >= first_scrape(prometheus, "sark"), run.stdout
        spec = tmp_path / "rate.yaml"
        spec.write_text(json.dumps(THROUGHPUT_SPEC))
        check = sloguard("check", "-f", str(spec), "--prometheus", prometheus, "--run",
                         str(tmp_path / "run" / "run.json"), "--format", "json", "--output-dir", str(tmp_path))
        assert check.returncode == 0, check.stderr + check.stdout
        [rps] = json.loads((tmp_path / "sloguard-report.json").read_text())["objectives"]
        assert rps["coverage"]["fraction"] == 1.0, rps
        assert rps["value"] == pytest.approx(doc["rate"]["achieved"], rel=0.05), (rps, doc["rate"])
    finally:
        sloguard("stack", "down", "--dir", str(stack))


def test_the_scrape_job_is_an_option_and_each_stack_has_its_own_token(tmp_path: Path, stack_dir: Path) -> None:
    result = sloguard("stack", "up", "--dir", str(tmp_path), "--job", "sark-gateway")
    try:
        assert result.returncode == 0, result.stderr + result.stdout
        state = state_of(tmp_path)
        assert state["job"] == "sark-gateway"
        assert "(scrape job sark-gateway)" in result.stdout
        assert "selects another job than sark-gateway" in result.stdout  # alerts/sark.rules.yml: job="sark"
        prometheus = state["components"]["prometheus"]["url"]
        assert wait_until(lambda: scraped(prometheus, "sark-gateway"), timeout=60, interval=0.5)
        assert not scraped(prometheus, "sark")
        assert state["adminToken"] != state_of(stack_dir)["adminToken"]  # every stack its own token
    finally:
        sloguard("stack", "down", "--dir", str(tmp_path))


def test_alertmanager_delivers_to_the_webhook_receiver(stack_dir: Path) -> None:
    alertmanager = state_of(stack_dir)["components"]["alertmanager"]["url"]
    alert = [{"labels": {"alertname": "StackSelfTest", "severity": "warning"}, "annotations": {"summary": "test"}}]
    request = urllib.request.Request(f"{alertmanager}/api/v2/alerts", data=json.dumps(alert).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    sink = stack_dir / "notifications.jsonl"

    def delivered() -> bool:
        return sink.exists() and "StackSelfTest" in sink.read_text()

    assert wait_until(delivered, timeout=30, interval=0.5)


def test_a_second_up_on_the_same_dir_says_it_is_running(stack_dir: Path) -> None:
    result = sloguard("stack", "up", "--dir", str(stack_dir))
    assert result.returncode == 2
    assert "already running" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_killed_process_is_named_by_status_and_down_cleans_up_the_rest(tmp_path: Path) -> None:
    result = sloguard("stack", "up", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    state = state_of(tmp_path)
    pids = all_pids(tmp_path)
    victim = state["components"]["policy-server"]["pid"]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(victim), timeout=10)
    status = sloguard("stack", "status", "--dir", str(tmp_path))
    assert status.returncode == 1
    died = [line for line in status.stdout.splitlines() if "DIED" in line]
    assert len(died) == 1 and died[0].startswith("policy-server")
    down = sloguard("stack", "down", "--dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert "policy-server" in down.stdout and "was not running" in down.stdout
    assert not [p for p in pids if pid_alive(p)]


def test_a_stale_state_file_is_replaced(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"apiVersion": "sloguard/v1", "kind": "Stack", "components": {
        "redis": {"name": "redis", "port": 1, "url": "redis://127.0.0.1:1/0", "pid": dead.pid, "log": "x",
                  "argv": []}}}
    (tmp_path / "stack.json").write_text(json.dumps(stale))
    result = sloguard("stack", "up", "--dir", str(tmp_path))
    try:
        assert result.returncode == 0, result.stderr
        assert "stale" in result.stdout
    finally:
        sloguard("stack", "down", "--dir", str(tmp_path))


def test_a_garbled_state_file_gets_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text("{not json")
    result = sloguard("stack", "status", "--dir", str(tmp_path))
    assert result.returncode == 2 and "unreadable stack state" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_gets_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = sloguard("stack", "up", "--dir", str(tmp_path), "--port", f"prometheus={port}")
    assert result.returncode == 2
    assert f"port {port} (prometheus) is in use" in result.stderr
    assert not (tmp_path / "stack.json").exists()


def test_a_missing_binary_names_the_debian_package(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    result = sloguard("stack", "up", "--dir", str(tmp_path), env=env)
    assert result.returncode == 2
    assert "install the Debian package redis-server" in result.stderr, result.stderr
