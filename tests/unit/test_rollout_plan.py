"""The rollout plan: SARK's rollout.yaml, the defaults, and one test per validation rule with its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloguard.conventions import ExitCode
from sloguard.errors import SpecError
from sloguard.rollout.plan import (
    AdminApiSetting,
    CommandSetting,
    CompareCriteria,
    OnFailure,
    RollbackTo,
    RolloutPlan,
    Step,
    load_plan,
    load_plan_text,
)

ROOT = Path(__file__).resolve().parents[2]
SARK_PLAN = ROOT / "rollout.yaml"
DAY = 86400.0

# A minimal plan: spec.spec is line 6, flags line 7, steps from line 9 (the 100 % step on line 11).
MINIMAL = """\
apiVersion: sloguard/v1
kind: RolloutPlan
metadata: {name: p}
spec:
  # the spec file the tests write beside the plan
  spec: slo.yaml
  flags: [rust_opa]
  steps:
    - {percent: 5, minDuration: 1m, minEvents: 100}
    - {percent: 50, minDuration: 1m, minEvents: 100}
    - {percent: 100}
"""


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    """A directory holding the spec file plans in these tests point at (only its existence is checked)."""
    (tmp_path / "slo.yaml").write_text("# a spec\n")
    return tmp_path


def load(text: str, directory: Path) -> RolloutPlan:
    return load_plan_text(text, str(directory / "plan.yaml"))


def error_of(text: str, directory: Path) -> str:
    with pytest.raises(SpecError) as caught:
        load(text, directory)
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{directory}/")


def edit(old: str, new: str, text: str = MINIMAL) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_sark_plan_loads_to_the_expected_model() -> None:
    plan = load_plan(SARK_PLAN)
    assert plan == RolloutPlan(
        name="sark-rust-rollout",
        source=str(SARK_PLAN),
        spec_path=ROOT / "sloguard.yaml",
        flags=("rust_opa", "rust_cache"),
        together=True,
        interval_seconds=60.0,
        steps=(
            Step(percent=5.0, min_duration_seconds=14 * DAY, min_events=10000),  # canary: two weeks
            Step(percent=10.0, min_duration_seconds=7 * DAY, min_events=10000),  # 10 -> 25 -> 50 over three weeks
            Step(percent=25.0, min_duration_seconds=7 * DAY, min_events=10000),
            Step(percent=50.0, min_duration_seconds=7 * DAY, min_events=10000),
            Step(percent=100.0, min_duration_seconds=0.0, min_events=0),
        ),
        compare=CompareCriteria(error_ratio_margin=0.001, latency_quantile=0.95, latency_margin=0.05, alpha=0.01),
        on_failure=OnFailure(rollback_to=RollbackTo.ZERO),
        flag_setter=AdminApiSetting(url="http://127.0.0.1:8000", token_env="SLOGUARD_DEMO_ADMIN_TOKEN"),
    )
    assert plan.flag_passes() == (("rust_opa", "rust_cache"),)
    assert [plan.rollback_percent(index) for index in range(4)] == [0.0, 0.0, 0.0, 0.0]


def test_defaults(plan_dir: Path) -> None:
    plan = load(MINIMAL, plan_dir)
    assert plan.spec_path == plan_dir / "slo.yaml"
    assert plan.together is True
    assert plan.interval_seconds == 60.0
    assert plan.compare == CompareCriteria(error_ratio_margin=0.001, latency_quantile=0.95, latency_margin=0.05,
                                           alpha=0.01)
    assert plan.on_failure == OnFailure(rollback_to=RollbackTo.ZERO)
    assert plan.flag_setter == AdminApiSetting(url="http://127.0.0.1:8000", token_env="SLOGUARD_DEMO_ADMIN_TOKEN")


def test_one_flag_after_the_other_a_command_and_rollback_to_the_previous_step(plan_dir: Path) -> None:
    text = edit("  flags: [rust_opa]\n", "  flags: [rust_cache, rust_opa]\n  together: false\n  interval: 30s\n"
                "  onFailure: {rollbackTo: previous}\n"
                "  flagSetter: {command: [./set-flag.sh, '{flag}', '--to={percent}', '{{literal}}']}\n")
    plan = load(text, plan_dir)
    assert plan.flag_passes() == (("rust_cache",), ("rust_opa",))
    assert plan.interval_seconds == 30.0
    assert plan.flag_setter == CommandSetting(argv=("./set-flag.sh", "{flag}", "--to={percent}", "{{literal}}"))
    assert [plan.rollback_percent(index) for index in range(3)] == [0.0, 5.0, 50.0]


def test_admin_api_url_loses_its_trailing_slash(plan_dir: Path) -> None:
    text = MINIMAL + "  flagSetter: {adminApi: {url: 'http://localhost:9000/', tokenEnv: MY_TOKEN}}\n"
    assert load(text, plan_dir).flag_setter == AdminApiSetting(url="http://localhost:9000", token_env="MY_TOKEN")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # the bad plans
        ("[rust_opa]", "[rust_opa, rust_kache]",
         "plan.yaml:7: flags[1]: unknown flag 'rust_kache'; SARK's flags are rust_opa, rust_cache"),
        ("{percent: 5,", "{percent: 0,", "plan.yaml:9: steps[0].percent: must be greater than 0"),
        ("{percent: 5,", "{percent: -5,", "plan.yaml:9: steps[0].percent: must be greater than 0"),
        ("{percent: 50,", "{percent: 120,", "plan.yaml:10: steps[1].percent: must be at most 100"),
        ("{percent: 50,", "{percent: 4,",
         "plan.yaml:10: steps[1].percent: must be greater than the step before (5): steps only go up"),
        ("{percent: 50,", "{percent: 5,",
         "plan.yaml:10: steps[1].percent: must be greater than the step before (5): steps only go up"),
        ("    - {percent: 100}\n", "",
         "plan.yaml:10: steps[1].percent: the last step must be 100: a plan ends with the Rust path taking all of "
         "the traffic"),
        ("spec: slo.yaml", "spec: missing.yaml",
         "plan.yaml:6: spec: 'missing.yaml': no such file (relative to the plan's directory: {dir}/missing.yaml)"),
        ("  steps:", "  flagSetter:\n    adminApi: {}\n    command: [./set, '{percent}']\n  steps:",
         "plan.yaml:10: flagSetter.command: adminApi is already set; a plan has exactly one flag setter"),
        ("  steps:", "  togther: false\n  steps:", "plan.yaml:8: togther: unknown key (did you mean together?)"),
        # the other rules
        ("kind: RolloutPlan", "kind: SLOSet", "plan.yaml:2: kind: must be RolloutPlan, got 'SLOSet'"),
        ("apiVersion: sloguard/v1", "apiVersion: sloguard/v2",
         "plan.yaml:1: apiVersion: unsupported version 'sloguard/v2'; this sloguard reads sloguard/v1"),
        (MINIMAL[MINIMAL.index("  steps:"):], "  steps: []\n",
         "plan.yaml:8: steps: must list at least one step, the last at 100"),
        ("[rust_opa]", "[rust_opa, rust_opa]", "plan.yaml:7: flags[1]: 'rust_opa' is listed twice"),
        ("[rust_opa]", "[]", "plan.yaml:7: flags: must list at least one flag"),
        ("{percent: 5,", "{percent: '5',", "plan.yaml:9: steps[0].percent: must be a number"),
        ("{percent: 50, minDuration: 1m, minEvents: 100}", "{percent: 100}",
         "plan.yaml:10: steps[1].percent: 100 ends the plan; no step can follow it"),
        ("{percent: 100}", "{percent: 100, minEvents: 5}",
         "plan.yaml:11: steps[2].minEvents: the 100 % step ends the plan: no Python traffic is left to compare "
         "against, so it takes no minDuration or minEvents"),
        ("{percent: 5, minDuration: 1m, minEvents: 100}", "{percent: 5, minEvents: 100}",
         "plan.yaml:9: steps[0].minDuration: is required on a step below 100 %: it says when the step has been "
         "watched long enough to promote"),
        ("{percent: 5, minDuration: 1m, minEvents: 100}", "{percent: 5, minDuration: 1m}",
         "plan.yaml:9: steps[0].minEvents: is required on a step below 100 %: it says when the step has been "
         "watched long enough to promote"),
        ("minEvents: 100}", "minEvents: 0}", "plan.yaml:9: steps[0].minEvents: must be at least 1"),
        ("minDuration: 1m,", "minDuration: 1 week,",
         "plan.yaml:9: steps[0].minDuration: invalid duration '1 week': units are ms, s, m, h, d, w, y"),
        ("  steps:", "  interval: 5m\n  steps:",
         "plan.yaml:10: steps[0].minDuration: must be at least spec.interval (5m): the step needs one look"),
        ("  steps:", "  compare: {alpha: 0.5}\n  steps:", "plan.yaml:8: compare.alpha: must be less than 0.5"),
        ("  steps:", "  compare: {errorRatio: {margin: -0.1}}\n  steps:",
         "plan.yaml:8: compare.errorRatio.margin: must be at least 0"),
        ("  steps:", "  compare: {latency: {quantile: 95}}\n  steps:",
         "plan.yaml:8: compare.latency.quantile: must be less than 1"),
        ("  steps:", "  onFailure: {rollbackTo: first}\n  steps:",
         "plan.yaml:8: onFailure.rollbackTo: must be one of 'zero' or 'previous'"),
        ("  steps:", "  flagSetter: {}\n  steps:", "plan.yaml:8: flagSetter: set exactly one of adminApi or command"),
        ("  steps:", "  flagSetter: {command: [./set, '{flag}']}\n  steps:",
         "plan.yaml:8: flagSetter.command: must pass {percent}: without it the command cannot know what to set"),
        ("  steps:", "  flagSetter: {command: [./set, '{flag}', '{pct}']}\n  steps:",
         "plan.yaml:8: flagSetter.command[2]: unknown placeholder {pct}; the placeholders are {flag} and {percent}"),
        ("  steps:", "  flagSetter: {command: [./set, '{percent']}\n  steps:",
         "plan.yaml:8: flagSetter.command[1]: '{percent': unbalanced brace; write {{ or }} for a literal one"),
        ("  steps:", "  flagSetter: {command: []}\n  steps:",
         "plan.yaml:8: flagSetter.command: must list the program and its arguments"),
        ("[rust_opa]", "[rust_opa, rust_cache]\n  flagSetter: {command: [./set, '{percent}']}",
         "plan.yaml:8: flagSetter.command: must pass {flag}: the plan moves more than one flag"),
        ("  steps:", "  flagSetter: {adminApi: {url: '127.0.0.1:8000'}}\n  steps:",
         "plan.yaml:8: flagSetter.adminApi.url: must be an http:// URL such as http://127.0.0.1:8000, got "
         "'127.0.0.1:8000'"),
        ("  steps:", "  flagSetter: {adminApi: {url: 'http://127.0.0.1:8000/admin'}}\n  steps:",
         "plan.yaml:8: flagSetter.adminApi.url: is the service's base URL without a path, got "
         "'http://127.0.0.1:8000/admin'"),
        ("  steps:", "  flagSetter: {adminApi: {tokenEnv: 1TOKEN}}\n  steps:",
         "plan.yaml:8: flagSetter.adminApi.tokenEnv: '1TOKEN' is not an environment variable name "
         "([A-Za-z_][A-Za-z0-9_]*)"),
        ("metadata: {name: p}", "metadata: {name: My Plan}",
         "plan.yaml:3: metadata.name: 'My Plan' is not a valid name: use lowercase letters, digits and '-', "
         "starting with a letter or digit"),
    ],
)
def test_bad_plans_get_one_line_with_file_and_line(plan_dir: Path, old: str, new: str, message: str) -> None:
    assert error_of(edit(old, new), plan_dir) == message.replace("{dir}", str(plan_dir))


def test_spec_path_that_is_a_directory(plan_dir: Path) -> None:
    (plan_dir / "specs").mkdir()
    assert error_of(edit("spec: slo.yaml", "spec: specs"), plan_dir) == (
        f"plan.yaml:6: spec: 'specs': is a directory, not a spec file (relative to the plan's directory: "
        f"{plan_dir}/specs)"
    )


def test_files_and_exit_code(plan_dir: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_plan(plan_dir / "nope.yaml")
    assert str(caught.value) == f"{plan_dir}/nope.yaml: no such file"
    assert caught.value.exit_code == ExitCode.ERROR  # exit 2 when a CLI loads the plan
    with pytest.raises(SpecError, match=r"is a directory, not a plan file$"):
        load_plan(plan_dir)
    (plan_dir / "plan.yaml").write_text(MINIMAL)
    assert load_plan(plan_dir / "plan.yaml").spec_path == plan_dir / "slo.yaml"


def test_empty_plan(plan_dir: Path) -> None:
    assert error_of("", plan_dir) == "plan.yaml:1: empty plan; expected apiVersion, kind, metadata, spec"
    assert error_of("apiVersion: sloguard/v1\n", plan_dir) == "plan.yaml:1: kind: is required (expected RolloutPlan)"


def test_a_spec_is_not_a_plan() -> None:
    with pytest.raises(SpecError, match=r"sloguard\.yaml:6: kind: must be RolloutPlan, got 'SLOSet'$"):
        load_plan(ROOT / "sloguard.yaml")
