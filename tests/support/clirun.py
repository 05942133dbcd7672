"""Run the installed `sloguard` console script as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The host's own Prometheus settings must not leak into a test's backend.
_SCRUBBED_PREFIX = "SLOGUARD_"


@dataclass
class CliResult:
    """What a sloguard run printed and returned."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        return (
            f"$ sloguard {' '.join(self.args)}\n-> exit {self.returncode} in {self.seconds:.2f} s\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


def sloguard_executable() -> str:
    """The console script next to the interpreter running the tests (the project's venv)."""
    candidate = Path(sys.executable).parent / "sloguard"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("sloguard")
    if found is None:
        raise RuntimeError("the sloguard console script is not installed (pip install -e .)")
    return found


def run_sloguard(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 120.0,
    unset: Sequence[str] = (),
) -> CliResult:
    """Run `sloguard ARGS...`; env adds to a copy of os.environ without SLOGUARD_* variables.

    `unset` names variables to remove after that, e.g. COLUMNS to see what a CI log gets.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIX)}
    full_env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    full_env.update(env or {})
    for name in unset:
        full_env.pop(name, None)
    argv = [sloguard_executable(), *args]
    began = time.perf_counter()
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout, check=False
    )
    return CliResult(list(args), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - began)
