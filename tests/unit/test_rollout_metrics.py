"""A rollout's Prometheus metrics, from a state directory written with rollout.state."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sloguard.rollout.metrics import render_metrics, serve_metrics
from sloguard.rollout.state import DECISIONS_FILE, Kind, RolloutStore

FLAGS = ("rust_opa", "rust_cache")
T0 = 1_700_000_000.0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, sorted labels without `rollout`) -> value, from the text format."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "rollout"))
            out[(sample.name, labels)] = sample.value
    return out


def move(
    store: RolloutStore, kind: Kind, flag_index: int, step: int, percent: float, flags: tuple[str, ...], now: float
) -> None:
    """A decided flag change carried out: the decision, intent, applied (as the controller does it)."""
    store.record(kind, flag_index=flag_index, step=step, percent=percent, flags=flags, now=now)
    store.record(Kind.INTENT, flag_index=flag_index, step=step, percent=percent, flags=flags, now=now + 1)
    store.record(Kind.APPLIED, now=now + 2)


def one_flag_after_the_other(directory: Path) -> RolloutStore:
    """rust_opa carried to 100 %, then rust_cache to 5 % and rolled back to 0 %, then held."""
    store = RolloutStore.create(directory, plan_name="sark-rust-rollout", plan_digest="sha256:x", now=T0)
    move(store, Kind.PROMOTE, 0, 0, 50, ("rust_opa",), T0 + 10)
    store.record(Kind.LOOK, evidence={"errorRatio": {"decision": "safe"}}, now=T0 + 70)
    move(store, Kind.PROMOTE, 0, 1, 100, ("rust_opa",), T0 + 100)
    move(store, Kind.PROMOTE, 1, 0, 5, ("rust_cache",), T0 + 200)
    store.record(Kind.LOOK, evidence={"errorRatio": {"decision": "harm"}}, now=T0 + 260)
    move(store, Kind.ROLLBACK, 1, 0, 0, ("rust_cache",), T0 + 300)
    return store


def test_the_metrics_say_what_the_state_directory_records(tmp_path: Path) -> None:
    with one_flag_after_the_other(tmp_path):
        got = samples(render_metrics(tmp_path, FLAGS))
    assert got[("sloguard_rollout_percent", (("flag", "rust_opa"),))] == 100
    assert got[("sloguard_rollout_percent", (("flag", "rust_cache"),))] == 0
    assert got[("sloguard_rollout_step", ())] == 0
    assert got[("sloguard_rollout_status", (("status", "rolled_back"),))] == 1
    assert sum(v for (name, _), v in got.items() if name == "sloguard_rollout_status") == 1
    decisions = {dict(labels)["decision"]: v for (name, labels), v in got.items()
                 if name == "sloguard_rollout_decisions_total"}  # fmt: skip
    assert decisions == {"look": 2, "promote": 3, "rollback": 1, "intent": 4, "applied": 4, "hold": 0,
                         "resume": 0, "abort": 0}  # fmt: skip
    assert got[("sloguard_rollout_step_started_timestamp_seconds", ())] == T0 + 302
    assert got[("sloguard_rollout_state_ok", ())] == 1
    assert 'rollout="sark-rust-rollout"' in render_metrics(tmp_path)


def test_a_flag_not_yet_applied_shows_zero_and_a_directory_without_a_rollout_only_state_ok(tmp_path: Path) -> None:
    assert samples(render_metrics(tmp_path, FLAGS)) == {("sloguard_rollout_state_ok", ()): 1}
    with RolloutStore.create(tmp_path, plan_name="p", plan_digest="sha256:x", now=T0):
        got = samples(render_metrics(tmp_path, FLAGS))
    assert got[("sloguard_rollout_percent", (("flag", "rust_cache"),))] == 0
    assert got[("sloguard_rollout_step", ())] == -1
    assert ("sloguard_rollout_step_started_timestamp_seconds", ()) not in got  # no step has started


def test_a_torn_last_line_is_left_out_and_a_damaged_log_is_state_ok_zero(tmp_path: Path) -> None:
    with one_flag_after_the_other(tmp_path):
        pass
    log = tmp_path / DECISIONS_FILE
    with log.open("ab") as f:
        f.write(b'{"seq": 18, "kind": "pro')  # a crash in the middle of an append
    assert samples(render_metrics(tmp_path))[("sloguard_rollout_decisions_total", (("decision", "promote"),))] == 3
    log.write_bytes(b"not json\n" + log.read_bytes())
    assert samples(render_metrics(tmp_path)) == {("sloguard_rollout_state_ok", ()): 0}


def test_the_server_serves_on_loopback_and_follows_new_decisions(tmp_path: Path) -> None:
    store = RolloutStore.create(tmp_path, plan_name="p", plan_digest="sha256:x", now=T0)
    with store, serve_metrics(tmp_path, 0, flags=FLAGS) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            with urllib.request.urlopen(server.url, timeout=5) as response:
                return samples(response.read().decode())

        assert scrape()[("sloguard_rollout_percent", (("flag", "rust_opa"),))] == 0
        move(store, Kind.PROMOTE, 0, 0, 5, FLAGS, T0 + 10)
        after = scrape()
        assert after[("sloguard_rollout_percent", (("flag", "rust_opa"),))] == 5
        assert after[("sloguard_rollout_decisions_total", (("decision", "applied"),))] == 1
        assert after[("sloguard_rollout_step_started_timestamp_seconds", ())] == T0 + 12


def test_a_change_naming_no_flag_moves_every_flag_of_the_plan(tmp_path: Path) -> None:
    with RolloutStore.create(tmp_path, plan_name="p", plan_digest="sha256:x", now=T0) as store:
        move(store, Kind.PROMOTE, 0, 0, 25, (), T0 + 10)
    got = samples(render_metrics(tmp_path, FLAGS))
    assert [got[("sloguard_rollout_percent", (("flag", flag),))] for flag in FLAGS] == [25, 25]
