"""Setting the flag: CommandSetter runs a real script (no shell); AdminApiSetter's guards and error lines.

The admin API against the real reference service is tests/integration/test_rollout_flags.py; here a
scripted HTTP server stands in only for answers the real service never gives (garbage, a wrong value, 500).
"""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import pytest

from sloguard import conventions as c
from sloguard.errors import UsageError
from sloguard.rollout.flags import AdminApiSetter, CommandSetter, FlagError, FlagSetter, fill, setter_for
from sloguard.rollout.plan import AdminApiSetting, CommandSetting
from tests.support.fakehttp import FakeHTTPServer, RecordedRequest, json_answer
from tests.support.processes import closed_port


def script(directory: Path, name: str, body: str) -> Path:
    """An executable Python script (the interpreter of this test run, so nothing depends on /bin/sh)."""
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A flag command that appends its argv to a JSONL file and keeps the last percent per flag."""
    log = tmp_path / "argv.jsonl"
    path = script(tmp_path, "set-flag", (
        f"log = {str(log)!r}\n"
        "with open(log, 'a') as out: out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "with open(log + '.' + sys.argv[1], 'w') as out: out.write(sys.argv[2])\n"
    ))
    return path, log


def recorded(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_command_setter_passes_flag_and_percent_as_arguments(recorder: tuple[Path, Path], tmp_path: Path) -> None:
    path, log = recorder
    setter: FlagSetter = CommandSetter([str(path), "{flag}", "{percent}", "--note=$(rm -rf /); {flag}"])
    setter.set(c.FLAG_RUST_OPA, 25)
    setter.set(c.FLAG_RUST_CACHE, 12.5)
    setter.set(c.FLAG_RUST_OPA, 100.0)
    assert recorded(log) == [
        ["rust_opa", "25", "--note=$(rm -rf /); rust_opa"],  # no shell: the text arrives as written
        ["rust_cache", "12.5", "--note=$(rm -rf /); rust_cache"],
        ["rust_opa", "100", "--note=$(rm -rf /); rust_opa"],
    ]
    assert setter.get(c.FLAG_RUST_OPA) == 100.0  # no read command: what it last set
    with pytest.raises(FlagError, match="no read command"):
        CommandSetter([str(path), "{flag}", "{percent}"]).get(c.FLAG_RUST_OPA)


def test_command_setter_reads_back_with_its_read_command(recorder: tuple[Path, Path], tmp_path: Path) -> None:
    path, log = recorder
    reader = script(tmp_path, "get-flag", f"print(open({str(log)!r} + '.' + sys.argv[1]).read())")
    setter = CommandSetter([str(path), "{flag}", "{percent}"], read_argv=[str(reader), "{flag}"])
    setter.set(c.FLAG_RUST_CACHE, 25)
    assert CommandSetter([str(path), "{flag}", "{percent}"], read_argv=[str(reader), "{flag}"]).get(
        c.FLAG_RUST_CACHE) == 25.0
    liar = script(tmp_path, "get-garbage", "print('twenty-five')")
    with pytest.raises(FlagError, match="printed 'twenty-five', not a percentage"):
        CommandSetter([str(path), "{flag}", "{percent}"], read_argv=[str(liar)]).get(c.FLAG_RUST_OPA)


def test_command_setter_runs_in_the_directory_and_environment_given(tmp_path: Path) -> None:
    path = script(tmp_path, "where", "open('where.txt', 'w').write(os.getcwd() + ' ' + os.environ['FLAG_SYSTEM'])")
    work = tmp_path / "plan-dir"
    work.mkdir()
    CommandSetter([str(path), "{percent}"], cwd=work, env={"FLAG_SYSTEM": "unleash"}).set("rust_opa", 5)
    assert (work / "where.txt").read_text() == f"{work} unleash"


def test_a_failing_command_is_one_line_with_its_stderr_tail(tmp_path: Path) -> None:
    path = script(tmp_path, "fail", "print('noise ' * 500, file=sys.stderr)\n"
                                    "print('flag service said: 403 forbidden', file=sys.stderr)\nsys.exit(3)")
    with pytest.raises(FlagError) as caught:
        CommandSetter([str(path), "{flag}", "{percent}"]).set(c.FLAG_RUST_OPA, 50)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"flag command {path} rust_opa 50 exited 3: ...")
    assert message.endswith("flag service said: 403 forbidden")
    assert len(message) < 600
    assert caught.value.exit_code == c.ExitCode.ERROR


def test_a_command_that_hangs_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    path = script(tmp_path, "hang", (
        "import subprocess\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('waiting for the flag service', file=sys.stderr, flush=True)\ntime.sleep(60)"
    ))
    started = time.monotonic()
    with pytest.raises(FlagError, match=r"timed out after 1 s: waiting for the flag service$"):
        CommandSetter([str(path), "{percent}"], timeout=1.0).set(c.FLAG_RUST_OPA, 5)
    assert time.monotonic() - started < 10  # the grandchild held stderr open: it was killed too
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{grandchild}").exists() and "Z" not in _state(grandchild):
        assert time.monotonic() < deadline, "the command's child outlived the timeout"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_a_missing_command_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FlagError, match=r"^flag command .*/no-such-tool rust_opa 5 could not start: No such file"):
        CommandSetter([str(tmp_path / "no-such-tool"), "{flag}", "{percent}"]).set(c.FLAG_RUST_OPA, 5)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "non-empty list"),
    (["./set-flag.sh", "{flag}"], "never passes {percent}"),
])  # fmt: skip
def test_bad_command_templates_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CommandSetter(argv)


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan"), float("inf")])
def test_percentages_outside_0_to_100_never_reach_the_flag_system(percent: float, recorder: tuple[Path, Path]) -> None:
    path, log = recorder
    with pytest.raises(UsageError, match="within 0-100"):
        CommandSetter([str(path), "{flag}", "{percent}"]).set(c.FLAG_RUST_OPA, percent)
    with pytest.raises(UsageError, match="within 0-100"):
        AdminApiSetter(f"http://127.0.0.1:{closed_port()}", "t").set(c.FLAG_RUST_OPA, percent)
    assert not log.exists()


def test_fill_replaces_only_the_two_placeholders() -> None:
    assert fill(["{flag}={percent}", '{"json": {flag}}', "{other}"], "rust_opa", 33.3) == [
        "rust_opa=33.3", '{"json": rust_opa}', "{other}"]


@pytest.mark.parametrize(("url", "message"), [
    ("http://10.0.0.7:8000", "refusing to send the admin token to 10.0.0.7"),
    ("http://127.0.0.1:8000/admin", "without a path"),
    ("127.0.0.1:8000", "http:// URL"),
])  # fmt: skip
def test_admin_api_url_guards(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        AdminApiSetter(url, "token")


def test_admin_api_remote_only_when_allowed_and_token_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AdminApiSetter("http://10.0.0.7:8000/", "token", allow_remote=True).url == "http://10.0.0.7:8000"
    monkeypatch.setenv("MY_FLAG_TOKEN", "from-env")
    assert AdminApiSetter.from_env("http://127.0.0.1:8000", "MY_FLAG_TOKEN")._token == "from-env"
    monkeypatch.delenv(c.ENV_DEMO_ADMIN_TOKEN, raising=False)
    assert AdminApiSetter.from_env("http://127.0.0.1:8000")._token == c.DEMO_DEFAULT_ADMIN_TOKEN
    with pytest.raises(UsageError, match="unknown feature flag 'rust_gc'"):
        AdminApiSetter("http://127.0.0.1:8000", "token").set("rust_gc", 5)


def test_admin_api_unreachable_is_one_line_without_the_token() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(FlagError, match=rf"^PUT /admin/rollout on {url} failed: ") as caught:
        AdminApiSetter(url, "secret-token-value").set(c.FLAG_RUST_OPA, 5)
    assert "secret-token-value" not in str(caught.value)


def test_admin_api_answers_the_real_service_never_gives() -> None:
    answers = iter([
        json_answer({"rust_opa": 10.0, "rust_cache": 50.0}),  # asked 25, got 10
        (200, {"Content-Type": "text/html"}, "<html>proxy login</html>"),
        json_answer({"detail": "backend exploded"}, 500),
        json_answer({"rust_enabled": False, "rust_opa": 25.0, "effective": {"rust_opa": 0.0}}),
    ])

    def respond(request: RecordedRequest) -> tuple[int, dict[str, str], bytes | str]:
        return next(answers)

    with FakeHTTPServer(respond) as server:
        setter = AdminApiSetter(server.url, "tok")
        with pytest.raises(FlagError, match=r"asked rust_opa 25 % but the service reports 10\.0"):
            setter.set(c.FLAG_RUST_OPA, 25)
        with pytest.raises(FlagError, match="not a rollout state object"):
            setter.get(c.FLAG_RUST_OPA)
        with pytest.raises(FlagError, match=r"answered 500: backend exploded$"):
            setter.get(c.FLAG_RUST_OPA)
        assert setter.get(c.FLAG_RUST_OPA) == 0.0  # the kill switch: Rust serves nobody, whatever is configured
    put = server.requests[0]
    assert (put.method, put.path, json.loads(put.body)) == ("PUT", c.ADMIN_ROLLOUT_PATH, {"rust_opa": 25.0})
    assert put.headers["authorization"] == "Bearer tok"


def test_loopback_calls_never_go_through_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment would receive the admin token; loopback is reached directly.
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with FakeHTTPServer(lambda request: json_answer({"rust_opa": 5.0, "effective": {"rust_opa": 5.0}})) as server:
        assert AdminApiSetter(server.url, "tok").get(c.FLAG_RUST_OPA) == 5.0


def test_setter_for_a_plan_command_runs_it_from_the_plan_directory(tmp_path: Path) -> None:
    plan_dir = tmp_path / "plans"
    plan_dir.mkdir()
    script(plan_dir, "set-flag.sh", "open('set.txt', 'w').write(' '.join(sys.argv[1:]))")
    setter = setter_for(CommandSetting(argv=("./set-flag.sh", "{flag}", "{percent}")), cwd=plan_dir)
    setter.set(c.FLAG_RUST_CACHE, 50)
    assert (plan_dir / "set.txt").read_text() == "rust_cache 50"


def test_setter_for_the_admin_api_reads_the_plan_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SARK_FLAGS_TOKEN", "plan-token")
    setter = setter_for(AdminApiSetting(url="http://127.0.0.1:8000", token_env="SARK_FLAGS_TOKEN"))
    assert isinstance(setter, AdminApiSetter)
    assert (setter.url, setter._token) == ("http://127.0.0.1:8000", "plan-token")
    assert "$SARK_FLAGS_TOKEN" in setter.token_hint  # a 401 names the variable to fix
    with pytest.raises(UsageError, match="refusing to send the admin token"):
        setter_for(AdminApiSetting(url="http://192.0.2.1:8000", token_env="SARK_FLAGS_TOKEN"))
