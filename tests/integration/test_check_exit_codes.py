"""Exit code 2 ("could not evaluate") with exactly one line on stderr and no traceback.

Prometheus unreachable, 5xx after retries, garbage answers, an invalid spec: the CLI
contract says exit 2 with a one-line message. Misbehaving backends are scripted
http.server instances (a real Prometheus cannot be told to answer 503 or HTML).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.clirun import CliResult, run_sloguard
from tests.support.fakehttp import Answer, FakeHTTPServer, RecordedRequest, json_answer, prom_buildinfo
from tests.support.processes import closed_port

StartFake = Callable[[Callable[[RecordedRequest], Answer]], FakeHTTPServer]

SPEC = {
    "apiVersion": "sloguard/v1",
    "kind": "SLOSet",
    "metadata": {"name": "t"},
    "spec": {
        "service": "sark",
        "selector": {"job": "sark"},
        "objectives": [
            {"name": "throughput", "sli": {"throughput": {"metric": "sark_authz_requests_total"}},
             "objective": {"min": 1}},
        ],
    },
}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    return path


def check(spec: Path, url: str, tmp_path: Path, *extra: str) -> CliResult:
    return run_sloguard("check", "-f", str(spec), "--prometheus", url, "--start", "1700000000",
                        "--end", "1700003600", "--format", "json", "--output-dir", str(tmp_path / "out"), *extra)


def assert_one_line_error(result: CliResult, *needles: str) -> str:
    assert result.returncode == 2, result.describe()
    lines = result.stderr_lines()
    assert len(lines) == 1, result.describe()
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0], result.describe()
    return lines[0]


def test_unreachable_prometheus(spec_file: Path, tmp_path: Path) -> None:
    port = closed_port()
    result = check(spec_file, f"http://scott:tiger-pw@127.0.0.1:{port}", tmp_path)
    line = assert_one_line_error(result, f"127.0.0.1:{port}", "connection refused")
    assert "tiger-pw" not in result.stderr + result.stdout and "scott" not in line


def test_5xx_after_retries(spec_file: Path, tmp_path: Path, fake_http: StartFake) -> None:
    server = fake_http(lambda r: prom_buildinfo() if "buildinfo" in r.path else
                       json_answer({"status": "error", "errorType": "internal", "error": "boom"}, 500))
    result = check(spec_file, server.url, tmp_path, "--retries", "2")
    assert_one_line_error(result, server.url, "500")
    queries = [r for r in server.requests if r.path.endswith("/api/v1/query")]
    assert len(queries) == 2 * len({r.params["query"] for r in queries})  # each query tried twice, no more


@pytest.mark.parametrize(
    "answer",
    [
        (200, {"Content-Type": "text/html"}, "<html><h1>Welcome to nginx!</h1></html>"),
        (200, {"Content-Type": "application/json"}, '{"status": "success", "data": "nope"}'),
        (200, {"Content-Type": "application/json"}, "{truncated"),
    ],
    ids=["html", "wrong-shape", "broken-json"],
)
def test_garbage_answers(spec_file: Path, tmp_path: Path, fake_http: StartFake, answer: Answer) -> None:
    server = fake_http(lambda r: answer)
    assert_one_line_error(check(spec_file, server.url, tmp_path), server.url)


def test_invalid_spec(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    broken = {**SPEC, "spec": {**SPEC["spec"], "objectives": [{"name": "x", "sli": {"latency": {"metric": "m"}},
                                                               "objective": {"max": "fast"}}]}}
    bad.write_text(yaml.safe_dump(broken, sort_keys=False))
    port = closed_port()  # never contacted: the spec is checked first
    assert_one_line_error(check(bad, f"http://127.0.0.1:{port}", tmp_path), "bad.yaml:")


def test_spec_file_missing(tmp_path: Path) -> None:
    assert_one_line_error(check(tmp_path / "absent.yaml", "http://127.0.0.1:9", tmp_path), "absent.yaml")


def test_not_a_url(spec_file: Path, tmp_path: Path) -> None:
    assert_one_line_error(check(spec_file, "127.0.0.1:9090", tmp_path), "http")


def test_bad_header_env_is_one_line_and_hides_values(spec_file: Path, tmp_path: Path) -> None:
    result = run_sloguard("check", "-f", str(spec_file), "--prometheus", "http://127.0.0.1:9", "--last", "5m",
                          env={"SLOGUARD_PROMETHEUS_HEADERS": "Authorization Bearer hunter2"})
    assert_one_line_error(result, "SLOGUARD_PROMETHEUS_HEADERS")
    assert "hunter2" not in result.stderr + result.stdout
