"""docker-compose.yml parses with a real compose implementation and mounts only files that exist."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import find_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

pytestmark = pytest.mark.integration
# The service listens on the container's public address, where it refuses the published defaults:
# compose insists on the user's own secret and admin token.
OWN_SECRETS = {"SLOGUARD_DEMO_SECRET": "compose-test-secret", "SLOGUARD_DEMO_ADMIN_TOKEN": "compose-test-token"}


def compose_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLOGUARD_DEMO_")}
    return {**env, **OWN_SECRETS, **overrides}


def compose() -> str:
    binary = find_binary("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose: apt-get install docker-compose)")
    return binary


def test_compose_file_is_valid_for_a_real_compose_implementation() -> None:
    result = subprocess.run([compose(), "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=compose_env())
    assert result.returncode == 0, result.stderr


def test_compose_wants_the_users_own_secret_and_admin_token() -> None:
    env = {k: v for k, v in compose_env().items() if k != "SLOGUARD_DEMO_ADMIN_TOKEN"}
    result = subprocess.run([compose(), "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=env)
    assert result.returncode != 0 and "SLOGUARD_DEMO_ADMIN_TOKEN" in result.stderr
    config = subprocess.run([compose(), "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=compose_env())
    assert config.returncode == 0, config.stderr
    sark = yaml.safe_load(config.stdout)["services"]["sark"]
    assert sark["environment"] == OWN_SECRETS


def test_every_mounted_file_exists_and_is_shared_with_the_embedded_stack() -> None:
    result = subprocess.run([compose(), "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=compose_env())
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    sources = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            assert Path(source).exists(), f"{name} mounts {source}, which does not exist"
            sources.add(Path(source).resolve())
    # The files the embedded stack reads are the ones compose mounts.
    for shared in ("alerts/prometheus.yml", "alerts/alertmanager.yml", "sloguard/demo/policies", "dashboards"):
        assert (ROOT / shared).resolve() in sources, f"{shared} is not mounted"
    assert {"sark", "opa", "redis", "prometheus", "alertmanager", "grafana", "locust-master",
            "locust-worker"} <= set(services)
    assert services["opa"]["image"].startswith("openpolicyagent/opa")
