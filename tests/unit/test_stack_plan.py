"""What `stack up` writes without starting a process: a token per stack kept out of argv, the scrape job.

`start_component` is replaced, so nothing runs; tests/integration/test_stack.py starts the real stack.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sloguard import stack
from sloguard.cli import cli
from sloguard.conventions import DEMO_DEFAULT_ADMIN_TOKEN, ENV_DEMO_ADMIN_TOKEN, ROLLOUT_SCRAPE_JOB, SCRAPE_JOB
from sloguard.errors import UsageError
from sloguard.processes import free_ports
from sloguard.stackstate import Component, StackError, StackState, read_state
from tests.support.fakehttp import FakeHTTPServer, RecordedRequest, json_answer


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[Component]:
    """`stack up` plans and records every component but starts none; the components it would start."""
    planned: list[Component] = []

    def record(component: Component, **_: object) -> None:
        component.pid = 5_000_000 + len(planned)  # above any pid_max (2**22): never a running process
        planned.append(component)

    monkeypatch.setattr(stack, "start_component", record)
    monkeypatch.setattr(stack, "require_binary", lambda key: f"/usr/bin/{key}")
    return planned


def test_every_stack_gets_its_own_random_admin_token_in_stack_json_only(
        tmp_path: Path, nothing_starts: list[Component]) -> None:
    first = stack.up(stack.StackOptions(directory=tmp_path / "a"))
    second = stack.up(stack.StackOptions(directory=tmp_path / "b"))
    assert first.admin_token != second.admin_token
    for state in (first, second):
        assert state.admin_token != DEMO_DEFAULT_ADMIN_TOKEN and len(state.admin_token) >= 40
        assert stat.S_IMODE(state.path.stat().st_mode) == 0o600
        assert json.loads(state.path.read_text())["adminToken"] == state.admin_token
        service = state.components["service"]
        # In the environment the service starts with, never in its argv (ps shows argv to every local user).
        assert service.env == {ENV_DEMO_ADMIN_TOKEN: state.admin_token}
        assert "--admin-token" not in service.argv and state.admin_token not in " ".join(service.argv)
        reread = read_state(state.directory)
        assert reread is not None and reread.admin_token == state.admin_token
        assert reread.components["service"].env == service.env  # a restart starts with the same token
    assert all(not c.env for c in nothing_starts if c.name != "service")


def test_a_token_given_is_kept_and_a_plain_plan_gets_the_one_default(
        tmp_path: Path, nothing_starts: list[Component]) -> None:
    state = stack.up(stack.StackOptions(directory=tmp_path, admin_token="chosen-token"))
    assert state.admin_token == "chosen-token"
    ports = {name: 1000 + i for i, name in enumerate(stack.COMPONENTS)}
    plain = stack.plan_component("service", stack.StackOptions(directory=tmp_path), ports, {}, log_dir=tmp_path)
    assert plain.env == {ENV_DEMO_ADMIN_TOKEN: DEMO_DEFAULT_ADMIN_TOKEN}  # load's private target, tests


def test_a_rollout_metrics_port_adds_its_scrape_job_and_none_adds_nothing(
        tmp_path: Path, nothing_starts: list[Component]) -> None:
    stack.up(stack.StackOptions(directory=tmp_path, rollout_metrics_port=9464))
    jobs = {s["job_name"]: s for s in yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs[ROLLOUT_SCRAPE_JOB]["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]
    plain = stack.prometheus_config({"alertmanager": 1, "service": 2}, [])
    assert [s["job_name"] for s in plain["scrape_configs"]] == ["sark"]


def test_the_job_names_the_scrape_config_and_is_recorded(tmp_path: Path, nothing_starts: list[Component]) -> None:
    state = stack.up(stack.StackOptions(directory=tmp_path, job="sark-gateway"))
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    (scrape,) = config["scrape_configs"]
    assert scrape["job_name"] == "sark-gateway"
    assert scrape["static_configs"] == [{"targets": [f"127.0.0.1:{state.components['service'].port}"]}]
    assert state.job == "sark-gateway" and json.loads(state.path.read_text())["job"] == "sark-gateway"
    reread = read_state(tmp_path)
    assert reread is not None and reread.job == "sark-gateway"
    default = stack.up(stack.StackOptions(directory=tmp_path / "default"))
    assert default.job == SCRAPE_JOB
    assert yaml.safe_load((tmp_path / "default" / "prometheus.yml").read_text())["scrape_configs"][0][
        "job_name"] == SCRAPE_JOB


def test_an_empty_job_is_a_usage_error(tmp_path: Path, nothing_starts: list[Component]) -> None:
    with pytest.raises(UsageError, match="--job must name the scrape job"):
        stack.up(stack.StackOptions(directory=tmp_path, job=" "))
    assert not nothing_starts
    result = CliRunner().invoke(cli, ["stack", "up", "--dir", str(tmp_path), "--job", ""])
    assert result.exit_code == 2 and "--job must name the scrape job" in result.output


def test_up_notes_rule_files_that_select_another_job(tmp_path: Path, nothing_starts: list[Component]) -> None:
    rules = tmp_path / "sark.rules.yml"
    rules.write_text('groups: [{name: g, rules: [{alert: A, expr: \'up{job="sark"} == 0\'}]}]\n')
    result = CliRunner().invoke(cli, ["stack", "up", "--dir", str(tmp_path / "s"), "--job", "sark-gateway",
                                      "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert f"note: {rules} selects another job than sark-gateway" in result.output
    assert "(scrape job sark-gateway)" in result.output
    assert stack.rules_for_another_job([rules], "sark") == []


def test_status_asks_the_admin_api_with_the_stack_s_token() -> None:
    def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes | str]:
        if request.headers.get("authorization") != "Bearer right":
            return json_answer({"detail": "admin bearer token required"}, 401)
        return json_answer({"rust_enabled": True, "rust_opa": 30.0, "rust_cache": 70.0, "effective": {}})

    with FakeHTTPServer(answer) as server:
        assert stack.admin_api_status(server.url, "right") == (
            True, "the stack's token is accepted; rollout rust_opa 30 %, rust_cache 70 %")
        assert stack.admin_api_status(server.url, "wrong") == (
            False, "the service refused the stack's admin token (HTTP 401)")
        assert server.requests[0].path == "/admin/rollout"
    with FakeHTTPServer(lambda _: (200, {}, "not json")) as server:
        ok, detail = stack.admin_api_status(server.url, "right")
        assert not ok and detail.startswith("no usable answer from")


def test_compare_from_prometheus_selects_the_job_given(tmp_path: Path) -> None:
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps({"window": {"start": 1700000000, "end": 1700000600}}))

    def answer(request: RecordedRequest) -> tuple[int, dict[str, str], bytes | str]:
        if request.path.endswith("/query_range"):
            return json_answer({"status": "success", "data": {"resultType": "matrix", "result": []}})
        return json_answer({"status": "success", "data": {"version": "2.42.0-fake"}})

    with FakeHTTPServer(answer) as server:
        for args, job in (([], SCRAPE_JOB), (["--job", "sark-gateway"], "sark-gateway")):
            CliRunner().invoke(cli, ["compare", "--prometheus", server.url, "--run", str(run_file), *args])
            queries = [r.params["query"] for r in server.requests if r.path.endswith("/query_range")]
            assert queries and f'job="{job}"' in queries[-1], queries


def stack_with_prometheus(tmp_path: Path, url: str) -> StackState:
    prometheus = Component(name="prometheus", port=9090, url=url, log=tmp_path / "p.log", argv=["prometheus"])
    return StackState(tmp_path, {"prometheus": prometheus}, job="sark-gateway")


def test_the_demo_and_load_runs_wait_for_a_scrape_of_the_stack_s_job(tmp_path: Path) -> None:
    with FakeHTTPServer(lambda _: json_answer({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [1700000300, "1700000100"]}]}})) as server:
        state = stack_with_prometheus(tmp_path, server.url)
        assert stack.last_scrape(state) == 1700000100  # the scrape's time, not the query's
        stack.wait_for_scrape(state, 1700000000)
        stack.wait_for_scrape(state, 0.0)
        with pytest.raises(StackError, match=r"did not scrape the service \(job sark-gateway\) at or after "
                                             r"2023-11-14T22:16:40.000Z within 0.2 s"):
            stack.wait_for_scrape(state, 1700000200, timeout=0.2, interval=0.05)
        assert 'job="sark-gateway"' in server.requests[0].params["query"]
    stack.wait_for_scrape(StackState(tmp_path, {}), 1e12)  # no Prometheus: nothing to wait for


def test_before_the_first_scrape_or_unreachable_there_is_no_last_scrape(tmp_path: Path) -> None:
    with FakeHTTPServer(lambda _: json_answer({"status": "success", "data": {"resultType": "vector",
                                                                             "result": []}})) as server:
        state = stack_with_prometheus(tmp_path, server.url)
        assert stack.last_scrape(state) is None
        with pytest.raises(StackError, match=r"did not scrape the service \(job sark-gateway\) within"):
            stack.wait_for_scrape(state, 0.0, timeout=0.1, interval=0.05)
    with FakeHTTPServer(lambda _: (200, {}, "not json")) as server:
        assert stack.last_scrape(stack_with_prometheus(tmp_path, server.url)) is None


def test_free_ports_are_distinct_and_avoid_the_taken_ones() -> None:
    taken = set(free_ports(5))
    ports = free_ports(40, taken=taken)
    assert len(set(ports)) == 40 and not taken & set(ports)
