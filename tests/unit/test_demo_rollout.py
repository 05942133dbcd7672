"""`sloguard demo --rollout`: the compressed plan is a valid RolloutPlan, and --rollout keeps taking a percent."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from sloguard.cli import cli
from sloguard.demo_rollout import DEMO_STEPS, LOOK_SECONDS, MIN_EVENTS, STEP_SECONDS, compressed_plan, gating_spec
from sloguard.rollout.plan import AdminApiSetting, load_plan
from sloguard.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_the_compressed_plan_loads_with_short_steps_and_the_services_admin_api(tmp_path: Path) -> None:
    plan_file = tmp_path / "rollout.yaml"
    plan_file.write_text(yaml.safe_dump(compressed_plan(REPO / "sloguard.yaml", "http://127.0.0.1:45678")))
    plan = load_plan(plan_file)
    assert [step.percent for step in plan.steps] == list(DEMO_STEPS) == [5, 25, 50, 100]
    assert plan.interval_seconds == LOOK_SECONDS
    assert all(step.min_duration_seconds == STEP_SECONDS and step.min_events == MIN_EVENTS for step in plan.steps[:-1])
    assert plan.flags == ("rust_opa", "rust_cache")
    assert plan.spec_path == (REPO / "sloguard.yaml").resolve()
    assert plan.flag_setter == AdminApiSetting(url="http://127.0.0.1:45678", token_env="SLOGUARD_DEMO_ADMIN_TOKEN")


def test_rollout_with_a_value_is_still_a_percent_and_a_bad_one_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["demo", "--rollout", "150"])
    assert result.exit_code == 2
    assert "'--rollout'" in result.output and "0-100" in result.output
    result = CliRunner().invoke(cli, ["demo", "--rollout", "half"])
    assert result.exit_code == 2 and "no value to run the rollout plan" in result.output


def test_the_demos_gates_are_the_spec_without_its_absolute_latency_objectives(tmp_path: Path) -> None:
    gates = tmp_path / "gates.yaml"
    gates.write_text(yaml.safe_dump(gating_spec(REPO / "sloguard.yaml")))
    assert [objective.name for objective in load_spec(gates).objectives] == [
        "authz-error-rate", "throughput", "memory-growth"]
