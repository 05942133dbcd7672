"""The GitHub Actions performance workflow parses, has its triggers, and calls sloguard as it exists."""

from __future__ import annotations

import re
from pathlib import Path

import click
import yaml

from sloguard.cli import cli

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "performance.yml"


def load() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def test_triggers_pr_paths_weekly_schedule_and_manual_dispatch() -> None:
    on = load()["on"]
    assert any(p.startswith("sloguard/demo") for p in on["pull_request"]["paths"])
    (schedule,) = on["schedule"]
    _minute, _hour, dom, month, dow = schedule["cron"].split()
    assert (dom, month) == ("*", "*") and dow != "*"  # once a week
    assert "profile" in on["workflow_dispatch"]["inputs"]


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
