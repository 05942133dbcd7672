"""The GitHub Actions performance workflow: its triggers, the sloguard it calls, pinned actions, zizmor clean."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from sloguard.cli import cli

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "performance.yml"


def load() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def test_triggers_pr_paths_weekly_and_monthly_schedules_and_manual_dispatch() -> None:
    on = load()["on"]
    assert any(p.startswith("sloguard/demo") for p in on["pull_request"]["paths"])
    weekly, monthly = (entry["cron"] for entry in on["schedule"])
    _minute, _hour, dom, month, dow = weekly.split()
    assert (dom, month) == ("*", "*") and dow != "*"  # once a week
    _minute, _hour, dom, month, dow = monthly.split()
    assert dom != "*" and (month, dow) == ("*", "*")  # once a month
    assert {"profile", "stress"} <= set(on["workflow_dispatch"]["inputs"])


def test_the_monthly_run_and_a_manual_one_add_stress_and_the_weekly_one_does_not() -> None:
    doc = load()
    _weekly, monthly = (entry["cron"] for entry in doc["on"]["schedule"])
    full = doc["jobs"]["full"]
    assert full["env"]["STRESS"] == f"${{{{ github.event.schedule == '{monthly}' || inputs.stress }}}}"
    steps = {step.get("name", ""): step for step in full["steps"]}
    stress = [step for step in full["steps"] if "sloguard stress" in step.get("run", "")]
    assert len(stress) == 2 and all("env.STRESS == 'true'" in step["if"] for step in stress)
    assert "STRESS" not in steps["Soak (memory growth)"]["if"]  # memory growth: weekly too, as SARK's plan
    assert '"$STRESS" = true' in steps["Performance report"]["run"]


def test_jobs_upload_reports_and_write_the_job_summary() -> None:
    jobs = load()["jobs"]
    assert set(jobs) == {"quick", "full"}
    assert "pull_request" in jobs["quick"]["if"] and "schedule" in jobs["full"]["if"]
    for job in jobs.values():
        steps = job["steps"]
        uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
        assert uploads and "reports/" in uploads[0]["with"]["path"]
        runs = "\n".join(s.get("run", "") for s in steps)
        assert "performance-report.md" in runs and "$GITHUB_STEP_SUMMARY" in runs
        assert "sloguard report" in runs and "sloguard compare" in runs


def sloguard_calls(script: str) -> list[list[str]]:
    script = script.replace("\\\n", " ")
    calls = []
    for line in script.splitlines():
        for match in re.finditer(r"sloguard (\w[\w-]*)([^|;&]*)", line):
            names = [match.group(1), *match.group(2).split()[:1]]
            calls.append([*names, *re.findall(r"(?<![\w$:+])--[a-z][a-z-]*", match.group(2))])
    return calls


def test_every_sloguard_command_and_option_in_the_workflow_exists() -> None:
    seen = 0
    for job in load()["jobs"].values():
        for step in job["steps"]:
            for words in sloguard_calls(step.get("run", "")):
                command: click.Command = cli
                rest = words
                while isinstance(command, click.Group) and rest and rest[0] in command.commands:
                    command, rest = command.commands[rest[0]], rest[1:]
                assert command is not cli, words
                known = {opt for p in command.params for opt in p.opts}
                for word in rest:
                    if word.startswith("--"):
                        assert word.split("=")[0] in known, f"{words}: {word} is not an option of {command.name}"
                seen += 1
    assert seen >= 8


def test_actions_are_pinned_to_a_commit_with_its_version_and_checkouts_keep_no_credentials() -> None:
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)(.*)$", WORKFLOW.read_text(), flags=re.M)
    assert len(uses) >= 6
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), (ref, comment)
    for job in load()["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, step


def zizmor() -> str:
    found = Path(sys.executable).with_name("zizmor")
    path = str(found) if found.exists() else shutil.which("zizmor")
    if path is None:  # a failure under CI=true (tests/conftest.py): scripts/setup installs the dev extra
        pytest.skip("zizmor is not installed (the dev extra: pip install -e '.[dev]', as scripts/setup does)")
    return path


def test_zizmor_finds_nothing_in_the_workflow() -> None:
    # --offline: no GitHub API calls (no token, no network); the audits that need one are skipped.
    result = subprocess.run([zizmor(), "--offline", "--format", "json", str(WORKFLOW)], capture_output=True,
                            text=True, timeout=60, check=False)
    findings = json.loads(result.stdout or "null")
    assert isinstance(findings, list), result.stderr
    found = [f"{f['ident']}: {f['desc']} (line {f['locations'][0]['concrete']['location']['start_point']['row'] + 1})"
             for f in findings]
    assert not found, "\n".join(found)
    assert result.returncode == 0, result.stderr
