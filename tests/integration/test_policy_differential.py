"""Any bundle, OPA's semantics, both paths alike: the differential test of issue 12.

For every bundle of tests/data/bundles and every decision path it names, each case is
evaluated on the Rust path (the engine in process) and on the Python path (OpaClient against
a real `sloguard demo policy-server` process on a free loopback port). The two values must be
identical, the two decisions identical, and both equal to the answer written by hand in the
bundle's cases.yaml; no valid bundle may produce a policy error.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator

import pytest

pytest.importorskip("regorus")
pytest.importorskip("uvicorn")

from prometheus_client.parser import text_string_to_metric_families

from sloguard import conventions as c
from sloguard.demo.cache import RustCache
from sloguard.demo.engine import PolicyEngine
from sloguard.demo.faults import Faults
from sloguard.demo.gateway import Gateway
from sloguard.demo.opa_client import OpaClient
from sloguard.demo.routing import Router
from sloguard.instrument import Instrumentation
from tests.support.bundles import Suite, all_suites
from tests.support.processes import ProcessHandle, free_port

pytestmark = pytest.mark.integration

SUITES = {suite.name: suite for suite in all_suites()}


@pytest.fixture(scope="module", params=sorted(SUITES))
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Suite, str]]:
    """A suite and the URL of a real policy-server process loaded with its bundle; stopped by pid."""
    suite = SUITES[request.param]
    port = free_port()
    argv = [sys.executable, "-m", "sloguard", "demo", "policy-server", "--host", "127.0.0.1", "--port", str(port),
            "--policies", str(suite.policy)]  # fmt: skip
    handle = ProcessHandle.start(argv, name=f"policy-server-{suite.name}", log_dir=tmp_path_factory.mktemp("logs"))
    try:
        handle.wait_http(f"http://127.0.0.1:{port}/health")
        yield suite, f"http://127.0.0.1:{port}"
    finally:
        handle.stop()
    assert "Traceback" not in handle.stderr_path.read_text()


def error_count(inst: Instrumentation) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(inst.exposition().decode())
        for sample in family.samples
        if sample.name == c.OPA_ERRORS
    )


def test_both_paths_and_the_expected_answers_agree(served: tuple[Suite, str], caplog: pytest.LogCaptureFixture) -> None:
    suite, url = served
    failures: list[str] = []
    evaluated = 0

    async def main() -> None:
        nonlocal evaluated
        for decision in suite.decisions:
            engine = PolicyEngine.from_directory(suite.policy, decision.path)
            gateway = Gateway(
                engine, OpaClient(url, decision.path), RustCache(), None, Router(100, 100, rust_enabled=True),
                Faults(), Instrumentation("fast", process_metrics=False),
            )  # fmt: skip
            assert gateway.opa is not None
            for case in suite.cases:
                if not case.applies_to(decision):
                    continue
                policy_input = case.policy_input()
                rust_value = engine.evaluate(policy_input.json)
                python_value = await gateway.opa.evaluate(policy_input.json)
                rust = await gateway.evaluate(c.IMPL_RUST, policy_input)
                python = await gateway.evaluate(c.IMPL_PYTHON, policy_input)
                evaluated += 1
                where = f"{decision.path} {case}"
                if rust_value != python_value:
                    failures.append(f"{where}: values differ: rust {rust_value!r}, python {python_value!r}")
                if rust != python:
                    failures.append(f"{where}: decisions differ: rust {rust}, python {python}")
                failures.extend(f"{where}: {problem}" for problem in case.mismatches(decision, rust))
            if error_count(gateway.inst):
                failures.append(f"{decision.path}: {error_count(gateway.inst):g} policy errors")
            await gateway.close()

    with caplog.at_level(logging.WARNING, logger="sloguard.demo"):
        asyncio.run(main())
    assert not failures, f"{len(failures)} failures in {suite.name}:\n" + "\n".join(failures)
    assert evaluated == suite.pairs() > 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no policy error was logged


def test_the_bundles_cover_five_bundles_and_300_requests() -> None:
    assert len(SUITES) >= 5
    assert sum(suite.pairs() for suite in SUITES.values()) >= 300
    for suite in SUITES.values():
        assert suite.policy.is_dir() and not (suite.policy / "cases.yaml").exists()


def test_no_cases_file_sits_in_a_policy_directory() -> None:
    """A cases file stays out of the policy directory: `opa run DIR` would load it as data."""
    for suite in SUITES.values():
        assert not list(suite.policy.rglob("*.yaml")) and not list(suite.policy.rglob("*.yml"))
