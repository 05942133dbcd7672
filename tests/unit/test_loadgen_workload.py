"""Workloads and users: every request is one the service accepts; Locust's task ratios match the mixes."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.demo.decision import parse_request
from sloguard.demo.tokens import TokenVerifier
from sloguard.errors import UsageError
from sloguard.load.target import check_host, loadgen_dir
from sloguard.load.workload import WORKLOADS, http_source, load_servers
from sloguard.processes import is_loopback

LOADGEN = Path(__file__).resolve().parents[2] / "loadgen"


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_request_is_valid_for_the_service(name: str) -> None:
    workload = WORKLOADS[name](seed=5)
    verifier = TokenVerifier()  # the service's own token check, with the same default key
    servers = load_servers()
    draw = workload.sampler()
    for _ in range(300):
        call = draw()
        identity = verifier.verify(f"Bearer {call.token}")
        action, server, tool, _, metadata = parse_request(json.loads(call.body))  # raises on a 422
        assert identity.tenant in {s.tenant for s in servers.values()}
        if action == "gateway:tool:invoke":
            assert server in servers and tool, call.body
        assert metadata["client"] == "sloguard-loadgen"


def test_mixed_workload_is_60_30_10() -> None:
    draw = WORKLOADS["SARKUser"](seed=1).sampler()
    kinds = collections.Counter(draw().kind for _ in range(20_000))
    assert kinds["read"] / 20_000 == pytest.approx(0.6, abs=0.02)
    assert kinds["write"] / 20_000 == pytest.approx(0.3, abs=0.02)
    assert kinds["admin"] / 20_000 == pytest.approx(0.1, abs=0.02)


def test_cache_behaviour_of_the_workloads() -> None:
    repeat = WORKLOADS["ReadHeavyUser"](seed=1).sampler()
    assert len({repeat().body.split(b'"gateway_metadata"')[0] for _ in range(2000)}) <= 12
    unique = WORKLOADS["CacheMissUser"](seed=1).sampler()
    assert len({unique().body.split(b'"gateway_metadata"')[0] for _ in range(2000)}) == 2000
    complex_ = WORKLOADS["ComplexPolicyUser"](seed=1)
    calls = [complex_.complex() for _ in range(200)]
    assert min(len(c.body) for c in calls) > 1000
    assert len({json.loads(c.body)["server_name"] for c in calls}) >= 5  # every server, both tenants
    tenants = {TokenVerifier().verify(f"Bearer {c.token}").tenant for c in calls}
    assert tenants == {"acme", "globex"}


def test_http_source_frames_a_full_request() -> None:
    kind, data = http_source(WORKLOADS["SARKUser"](seed=1), "127.0.0.1:8000")(0)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v1/gateway/authorize HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Host"] == "127.0.0.1:8000" and headers["Authorization"].startswith("Bearer ")
    assert int(headers["Content-Length"]) == len(body) and json.loads(body)["action"]
    assert kind in {"read", "write", "admin"}


def test_locust_sees_the_same_task_ratios() -> None:
    # Locust itself reports the ratios (in a subprocess: importing locust monkey-patches the process).
    out = subprocess.run([sys.executable, "-m", "locust", "-f", str(LOADGEN / "locustfile.py"),
                          "--show-task-ratio-json"], capture_output=True, text=True, timeout=60, check=True)
    ratios = json.loads(out.stdout)["per_class"]
    assert set(ratios) == set(WORKLOADS)
    for name, workload in WORKLOADS.items():
        total = sum(workload.weights.values())
        got = {task: r["ratio"] for task, r in ratios[name]["tasks"].items()}
        assert got == pytest.approx({k: w / total for k, w in workload.weights.items()})


@pytest.mark.parametrize("host", ["http://127.0.0.1:8000", "http://localhost:9", "http://[::1]:80/",
                                  "http://127.0.0.2:1"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert check_host(host) == host.rstrip("/")


@pytest.mark.parametrize("host", ["http://10.0.0.1:8000", "http://example.com", "http://192.168.1.5"])
def test_remote_hosts_need_allow_remote(host: str) -> None:
    with pytest.raises(UsageError, match="--allow-remote"):
        check_host(host)
    assert check_host(host, allow_remote=True) == host
    assert not is_loopback(host.split("//")[1].split(":")[0])


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "ftp://127.0.0.1", "http://127.0.0.1:8000/api"])
def test_malformed_hosts(host: str) -> None:
    with pytest.raises(UsageError):
        check_host(host)


def test_cli_refuses_remote_targets_and_unknown_profiles() -> None:
    runner = CliRunner()
    remote = runner.invoke(cli, ["load", "run", "quick", "--host", "http://10.1.2.3:8000"])
    assert remote.exit_code == 2 and "refusing to send load to 10.1.2.3" in remote.output
    unknown = runner.invoke(cli, ["load", "run", "nightly", "--host", "http://127.0.0.1:9"])
    assert unknown.exit_code == 2 and "no profile 'nightly'" in unknown.output
    bad_scale = runner.invoke(cli, ["load", "run", "quick", "--host", "http://127.0.0.1:9", "--scale", "0"])
    assert bad_scale.exit_code == 2 and "--scale" in bad_scale.output
    for command in (["soak", "--host", "http://8.8.8.8", "--duration", "1m", "--sample", "5s"],
                    ["stress", "--host", "http://8.8.8.8"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 2 and "refusing" in result.output


@pytest.mark.parametrize("command", [["load", "run", "quick"], ["load", "ab", "quick", "--control",
                                     "http://127.0.0.1:9", "--experiment", "http://127.0.0.1:10"],
                                     ["soak", "--duration", "1m", "--sample", "5s"]])
def test_a_bad_warmup_is_a_one_line_usage_error(command: list[str]) -> None:
    if command[0] != "load" or command[1] == "run":
        command = [*command, "--host", "http://127.0.0.1:9"]
    result = CliRunner().invoke(cli, [*command, "--warmup", "soon"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("sloguard: error: --warmup: ") and result.output.count("\n") == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_loadgen_dir_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert loadgen_dir() == LOADGEN
    with pytest.raises(UsageError, match="not a loadgen directory"):
        loadgen_dir(str(tmp_path))
    (tmp_path / "locustfile.py").write_text("")
    (tmp_path / "profiles.yaml").write_text("")
    monkeypatch.setenv("SLOGUARD_LOADGEN_DIR", str(tmp_path))
    assert loadgen_dir() == tmp_path.resolve()
