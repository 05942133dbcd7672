"""PrometheusClient and `sloguard check` against a real Prometheus served over TLS (custom CA)
with basic auth (Prometheus's own --web.config.file), on a small backfilled TSDB."""

from __future__ import annotations

import json
import math
import ssl
import warnings
from pathlib import Path

import httpx
import pytest
import yaml

from sloguard.errors import BackendError
from sloguard.prometheus import PrometheusClient
from tests.support.clirun import run_sloguard
from tests.support.processes import ProcessGroup
from tests.support.promdata import OpenMetrics, Window, counter_points, window_increase
from tests.support.promharness import PrometheusServer, backfill, start_prometheus
from tests.support.tlscerts import TLSFiles, make_tls_files

USER = "alice"
PASSWORD = "c0rrect-h0rse-battery"


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for Prometheus's basic_auth_users, via the C library's crypt(3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # deprecated, but the only bcrypt in the standard library
        except ImportError:
            pytest.skip("no crypt module to make a bcrypt hash for Prometheus basic auth")
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the C library's crypt(3) has no bcrypt")
    return hashed


@pytest.fixture(scope="module")
def window() -> Window:
    return Window.hours_ago(6)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, openssl_bin: str) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"), openssl_bin)


@pytest.fixture(scope="module")
def secure_prom(module_processes: ProcessGroup, tmp_path_factory: pytest.TempPathFactory, prometheus_bin: str,
                promtool_bin: str, tls: TLSFiles, window: Window) -> PrometheusServer:
    om = OpenMetrics()
    om.counter("sark_authz_requests_total", {"job": "sark", "decision": "allow"}, counter_points(window, 150_000))
    work = tmp_path_factory.mktemp("secure-prom")
    backfill(om.text(), work / "tsdb", work_dir=work, promtool=promtool_bin)
    web_config = yaml.safe_dump({
        "tls_server_config": {"cert_file": str(tls.server_cert), "key_file": str(tls.server_key)},
        "basic_auth_users": {USER: bcrypt_hash(PASSWORD)},
    })

    context = ssl.create_default_context(cafile=str(tls.ca_cert))

    def ready(url: str) -> bool:
        try:
            response = httpx.get(f"{url}/-/ready", verify=context, auth=(USER, PASSWORD), timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    return start_prometheus(module_processes, work / "tsdb", config_dir=work, prometheus=prometheus_bin,
                            web_config=web_config, scheme="https", ready=ready)


def client(prom: PrometheusServer, tls: TLSFiles, **kwargs) -> PrometheusClient:
    kwargs.setdefault("ca_file", str(tls.ca_cert))
    kwargs.setdefault("username", USER)
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("backoff", 0.01)
    return PrometheusClient(prom.url, **kwargs)


def test_buildinfo_and_query_over_tls_with_basic_auth(secure_prom, tls, window) -> None:
    with client(secure_prom, tls) as c:
        assert c.buildinfo()["version"].startswith("2.")
        [sample] = c.instant_query(f"increase(sark_authz_requests_total[{window.seconds}s])", at=window.end)
    assert sample.labels == {"job": "sark", "decision": "allow"}
    assert sample.value == window_increase(counter_points(window, 150_000), window)


def test_scalars_and_special_values_from_real_prometheus(secure_prom, tls, window) -> None:
    with client(secure_prom, tls) as c:
        assert c.instant_query("scalar(vector(2.5))", at=window.end)[0].value == 2.5
        assert c.instant_query("vector(1) / 0", at=window.end)[0].value == math.inf
        assert c.instant_query("-vector(1) / 0", at=window.end)[0].value == -math.inf
        assert math.isnan(c.instant_query("vector(0) / 0", at=window.end)[0].value)
        assert c.instant_query('absent(nothing{job="x"})', at=window.end)[0].labels == {"job": "x"}
        assert c.instant_query("nothing_here", at=window.end) == []


def test_long_query_goes_as_post_to_real_prometheus(secure_prom, tls, window) -> None:
    long_query = " + ".join(["vector(1)"] * 400)  # ~4.8 KB: sent as a POST form
    with client(secure_prom, tls) as c:
        assert c.instant_query(long_query, at=window.end)[0].value == 400.0


def test_bad_query_carries_prometheus_parse_error(secure_prom, tls, window) -> None:
    with client(secure_prom, tls) as c, pytest.raises(BackendError) as info:
        c.instant_query("sum(rate(x[5m])", at=window.end)
    message = str(info.value)
    assert "\n" not in message and "bad_data" in message and "parse error" in message


def test_range_vector_result_is_an_error(secure_prom, tls, window) -> None:
    with client(secure_prom, tls) as c, pytest.raises(BackendError, match="matrix"):
        c.instant_query("sark_authz_requests_total[5m]", at=window.end)


def test_wrong_password_is_refused_and_not_shown(secure_prom, tls, window) -> None:
    with client(secure_prom, tls, password="wrong-pass-123") as c, pytest.raises(BackendError) as info:
        c.instant_query("vector(1)", at=window.end)
    message = str(info.value)
    assert "401" in message and "wrong-pass-123" not in message and "\n" not in message


def test_unknown_ca_is_a_one_line_tls_error(secure_prom, tls, window) -> None:
    with client(secure_prom, tls, ca_file=None) as c, pytest.raises(BackendError) as info:
        c.buildinfo()
    message = str(info.value)
    assert "TLS" in message and "certificate" in message and "\n" not in message


def write_spec(tmp_path: Path) -> Path:
    spec = {
        "apiVersion": "sloguard/v1",
        "kind": "SLOSet",
        "metadata": {"name": "secure"},
        "spec": {"service": "sark", "selector": {"job": "sark"}, "objectives": [
            {"name": "throughput", "sli": {"throughput": {"metric": "sark_authz_requests_total"}},
             "objective": {"min": 2000}},
        ]},
    }
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize("how", ["env", "userinfo"])
def test_check_cli_with_ca_and_credentials(secure_prom, tls, window, tmp_path: Path, how: str) -> None:
    env = {"SLOGUARD_PROMETHEUS_CA": str(tls.ca_cert)}
    url = secure_prom.url
    if how == "env":
        env.update({"SLOGUARD_PROMETHEUS_USER": USER, "SLOGUARD_PROMETHEUS_PASSWORD": PASSWORD})
    else:
        url = url.replace("https://", f"https://{USER}:{PASSWORD}@")
    out = tmp_path / "out"
    result = run_sloguard("check", "-f", str(write_spec(tmp_path)), "--prometheus", url,
                          "--start", str(window.start), "--end", str(window.end),
                          "--format", "table,json,junit,markdown", "--output-dir", str(out), env=env)
    assert result.returncode == 0, result.describe()
    report_text = (out / "sloguard-report.json").read_text()
    [objective] = json.loads(report_text)["objectives"]
    assert objective["value"] == pytest.approx(150_000 / 60)
    everything = result.stdout + result.stderr + "".join(p.read_text() for p in out.iterdir())
    assert PASSWORD not in everything


def test_check_cli_without_ca_exits_2_with_one_line(secure_prom, window, tmp_path: Path) -> None:
    result = run_sloguard("check", "-f", str(write_spec(tmp_path)), "--prometheus", secure_prom.url,
                          "--start", str(window.start), "--end", str(window.end),
                          env={"SLOGUARD_PROMETHEUS_USER": USER, "SLOGUARD_PROMETHEUS_PASSWORD": PASSWORD})
    assert result.returncode == 2, result.describe()
    assert len(result.stderr_lines()) == 1 and "Traceback" not in result.stderr
    assert "certificate" in result.stderr and PASSWORD not in result.stderr + result.stdout
