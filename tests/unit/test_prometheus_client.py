"""PrometheusClient without a network: URL redaction, env parsing, argument checks."""

from __future__ import annotations

import base64

import httpx
import pytest

from sloguard.conventions import ENV_PROM_CA, ENV_PROM_HEADERS, ENV_PROM_PASSWORD, ENV_PROM_TOKEN, ENV_PROM_USER
from sloguard.errors import BackendError, UsageError
from sloguard.prometheus import PrometheusClient, Sample, parse_headers, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:9090", "http://127.0.0.1:9090/"),
        ("http://alice:s3cr3t@prom.example:9090/", "http://prom.example:9090/"),
        ("https://alice:p%40ss@prom.example/prometheus", "https://prom.example/prometheus"),
        ("https://tok@prom.example/api?key=hunter2#frag", "https://prom.example/api"),
        ("http://user:pw@[::1]:9090/", "http://[::1]:9090/"),
    ],
)
def test_redact_url_drops_userinfo_query_and_fragment(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_client_keeps_only_the_redacted_url() -> None:
    client = PrometheusClient("http://alice:s3cr3t@127.0.0.1:9/")
    try:
        assert client.url == "http://127.0.0.1:9/"
        assert "s3cr3t" not in repr(client)
        assert "s3cr3t" not in str(vars(client).get("url"))
    finally:
        client.close()


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host/", "http://", "http://host:notaport/", ""])
def test_bad_urls_are_usage_errors_on_one_line(url: str) -> None:
    with pytest.raises(UsageError) as info:
        PrometheusClient(url)
    assert "\n" not in str(info.value)


def test_bad_url_message_does_not_show_credentials() -> None:
    with pytest.raises(UsageError) as info:
        PrometheusClient("ftp://bob:topsecret@host/")
    assert "topsecret" not in str(info.value)


def test_parse_headers() -> None:
    assert parse_headers("X-Scope-OrgID=tenant-1, Other = v=1 ,") == {"X-Scope-OrgID": "tenant-1", "Other": "v=1"}
    assert parse_headers("") == {}


@pytest.mark.parametrize("text", ["X-Scope-OrgID", "Bad Name=v", "=value"])
def test_parse_headers_rejects_malformed_entries_without_echoing_values(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_headers(text + ",Authorization=Bearer supersecret")
    assert ENV_PROM_HEADERS in str(info.value)
    assert "supersecret" not in str(info.value)


def _env(**values: str) -> dict[str, str]:
    return values


def test_from_env_reads_every_variable(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate")
    env = _env(**{ENV_PROM_USER: "alice", ENV_PROM_PASSWORD: "pw", ENV_PROM_HEADERS: "X-Scope-OrgID=t1"})
    client = PrometheusClient.from_env("http://127.0.0.1:9/", environ=env)
    try:
        assert client._client.auth is not None
        assert client._client.headers["X-Scope-OrgID"] == "t1"
    finally:
        client.close()
    with pytest.raises(UsageError) as info:  # the CA file is read when the client is made
        PrometheusClient.from_env("http://127.0.0.1:9/", environ={ENV_PROM_CA: str(ca)})
    assert str(ca) in str(info.value)


def test_from_env_token_becomes_a_bearer_header() -> None:
    client = PrometheusClient.from_env("http://127.0.0.1:9/", environ={ENV_PROM_TOKEN: "tok123"})
    try:
        assert client._client.headers["Authorization"] == "Bearer tok123"
    finally:
        client.close()


def test_from_env_keyword_arguments_override_and_headers_merge() -> None:
    env = {ENV_PROM_HEADERS: "A=1,B=2"}
    client = PrometheusClient.from_env("http://127.0.0.1:9/", environ=env, headers={"B": "3"}, timeout=1.5)
    try:
        assert client._client.headers["A"] == "1"
        assert client._client.headers["B"] == "3"
        assert client._timeout == 1.5
    finally:
        client.close()


def test_password_without_user_is_a_usage_error_that_hides_the_password() -> None:
    with pytest.raises(UsageError) as info:
        PrometheusClient.from_env("http://127.0.0.1:9/", environ={ENV_PROM_PASSWORD: "hunter22"})
    assert ENV_PROM_USER in str(info.value)
    assert "hunter22" not in str(info.value)


def test_token_and_basic_auth_together_is_a_usage_error() -> None:
    env = {ENV_PROM_USER: "alice", ENV_PROM_PASSWORD: "pw1234", ENV_PROM_TOKEN: "tok5678"}
    with pytest.raises(UsageError) as info:
        PrometheusClient.from_env("http://127.0.0.1:9/", environ=env)
    assert "pw1234" not in str(info.value) and "tok5678" not in str(info.value)


def test_missing_ca_file_is_one_line_and_names_the_file(tmp_path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(UsageError) as info:
        PrometheusClient("https://127.0.0.1:9/", ca_file=str(missing))
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_userinfo_in_url_is_basic_auth() -> None:
    client = PrometheusClient("http://al%40ice:p%3Aw@127.0.0.1:9/")
    try:
        auth = client._client.auth
        assert auth is not None
        request = next(auth.auth_flow(httpx.Request("GET", "http://127.0.0.1:9/")))
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"al@ice:p:w").decode()
    finally:
        client.close()


def test_clean_masks_secrets_even_when_echoed() -> None:
    client = PrometheusClient("http://127.0.0.1:9/", token="tok-abcdef")
    try:
        assert client._clean("bad token 'tok-abcdef'\nsecond line") == "bad token '***' second line"
    finally:
        client.close()


def test_sample_is_plain_data() -> None:
    sample = Sample({"job": "sark"}, float("nan"))
    assert sample.labels == {"job": "sark"}
    assert sample.value != sample.value


def test_backend_error_is_a_sloguard_error_with_exit_code_2() -> None:
    assert int(BackendError("x").exit_code) == 2
    assert int(UsageError("x").exit_code) == 2


def test_clean_masks_long_extra_header_values() -> None:
    client = PrometheusClient("http://127.0.0.1:9/", headers={"X-Api-Key": "key-0123456789", "X-Scope-OrgID": "1"})
    try:
        assert client._clean("got key-0123456789 for tenant 1") == "got *** for tenant 1"
    finally:
        client.close()
