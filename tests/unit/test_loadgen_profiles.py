"""Load profiles: the bundled file, scaling, and one-line file:line errors for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloguard.errors import SpecError
from sloguard.load.profiles import USER_CLASSES, load_profiles
from sloguard.load.target import loadgen_dir

HEADER = "apiVersion: sloguard/v1\nkind: LoadProfiles\nprofiles:\n"
GOOD = "  p:\n    user_class: SARKUser\n    users: 10\n    spawn_rate: 5\n    rate: 100\n    duration: 30s\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_profiles_have_the_issue_rates() -> None:
    profiles = load_profiles(loadgen_dir() / "profiles.yaml")
    assert {"quick", "baseline", "target", "stress", "cache-hit", "cache-miss", "complex"} <= set(profiles)
    assert (profiles["baseline"].rate, profiles["target"].rate, profiles["stress"].rate) == (100, 2000, 5000)
    assert {p.user_class for p in profiles.values()} == set(USER_CLASSES)
    for p in profiles.values():
        assert p.duration > 0 and p.users >= 1 and p.spawn_rate > 0
        assert set(p.rollout) == {"rust_opa", "rust_cache"}
    # The CI profile must stay short.
    assert profiles["quick"].warmup + profiles["quick"].duration <= 60


def test_scale_shrinks_load_not_time() -> None:
    target = load_profiles(loadgen_dir() / "profiles.yaml")["target"]
    small = target.scaled(0.1)
    assert (small.users, small.rate, small.spawn_rate) == (20, 200, 5)
    assert (small.duration, small.warmup) == (target.duration, target.warmup)
    assert target.scaled(0.0001).users == 1 and target.scaled(0.0001).rate == 1


def test_durations_accept_units_and_plain_seconds(tmp_path: Path) -> None:
    text = HEADER + GOOD.replace("duration: 30s", "duration: 1h30m\n    warmup: 45")
    p = load_profiles(write(tmp_path, text))["p"]
    assert (p.duration, p.warmup, p.rollout) == (5400, 45, {})


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (HEADER + GOOD.replace("rate: 100", "rate: fast"), 8, "profiles.p.rate: must be a number"),
        (HEADER + GOOD.replace("rate: 100", "rate: -5"), 8, "profiles.p.rate: must be > 0"),
        (HEADER + GOOD.replace("users: 10", "users: 2.5"), 6, "profiles.p.users: must be an integer"),
        (HEADER + GOOD.replace("SARKUser", "Bob"), 5, "profiles.p.user_class: must be one of"),
        (HEADER + GOOD.replace("30s", "soon"), 9, "profiles.p.duration: invalid duration"),
        (HEADER + GOOD + "    colour: red\n", 10, "profiles.p.colour: unknown field"),
        (HEADER + GOOD + "    rollout: {rust_opa: 150}\n", 10, "profiles.p.rollout.rust_opa: must be a percentage"),
        (HEADER + GOOD + "    rollout: {go_opa: 5}\n", 10, "profiles.p.rollout.go_opa: must be one of"),
        (HEADER + GOOD.replace("    rate: 100\n", ""), 4, "profiles.p.rate: missing"),
        (HEADER.replace("sloguard/v1", "sloguard/v2") + GOOD, 1, "apiVersion: must be sloguard/v1"),
        (HEADER + "  p: [1, 2\n", 5, "invalid YAML"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_profiles(path)
    assert str(err.value).startswith(f"{path}:{line}:"), str(err.value)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such profiles file"):
        load_profiles(tmp_path / "nope.yaml")


def test_slo_variables_move_with_the_rate(tmp_path: Path) -> None:
    [profile] = load_profiles(write(tmp_path, HEADER + GOOD + "    slo_variables: {minThroughput: 90}\n")).values()
    assert profile.slo_variables == {"minThroughput": 90}
    assert profile.scaled(0.5).slo_variables == {"minThroughput": 45}
    assert profile.with_overrides(rate=200).slo_variables == {"minThroughput": 180}
    assert profile.as_dict()["slo_variables"] == {"minThroughput": 90}


def test_every_bundled_profile_declares_its_throughput_bound() -> None:
    profiles = load_profiles(loadgen_dir() / "profiles.yaml")
    for name, p in profiles.items():
        assert 0 < p.slo_variables["minThroughput"] <= max(p.rate, 2000), name
    assert profiles["target"].slo_variables["minThroughput"] == 2000  # the production objective itself


def test_slo_variables_must_be_numbers(tmp_path: Path) -> None:
    message = r"profiles\.yaml:11: profiles\.p\.slo_variables\.minThroughput: must be a number"
    with pytest.raises(SpecError, match=message):
        load_profiles(write(tmp_path, HEADER + GOOD + "    slo_variables:\n      minThroughput: fast\n"))
