"""PrometheusClient against small real HTTP servers on loopback that misbehave on purpose.

A real Prometheus cannot be made to answer 503 or garbage on demand, so these backends
are scripted http.server instances; everything a real Prometheus does is tested against
the real one in test_prometheus_client_real.py.
"""

from __future__ import annotations

import base64
import itertools
import ssl
import threading
import time
from collections.abc import Callable

import pytest

from sloguard.conventions import ENV_PROM_HEADERS, ENV_PROM_TOKEN
from sloguard.errors import BackendError
from sloguard.prometheus import PrometheusClient
from tests.support.fakehttp import (
    Answer,
    FakeHTTPServer,
    RecordedRequest,
    json_answer,
    prom_buildinfo,
    prom_vector,
)
from tests.support.processes import closed_port
from tests.support.tlscerts import make_tls_files

StartFake = Callable[[Callable[[RecordedRequest], Answer]], FakeHTTPServer]


def fast_client(url: str, **kwargs) -> PrometheusClient:
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("timeout", 5.0)
    return PrometheusClient(url, **kwargs)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def test_vector_scalar_and_special_values(fake_http: StartFake) -> None:
    def answer(request: RecordedRequest) -> Answer:
        if request.params["query"] == "s":
            return json_answer({"status": "success", "data": {"resultType": "scalar", "result": [1, "+Inf"]}})
        return prom_vector([({"implementation": "rust"}, "NaN"), ({"implementation": "python"}, "0.25")])

    server = fake_http(answer)
    with fast_client(server.url) as client:
        vector = client.instant_query("v", at=1_700_000_000.5)
        scalar = client.instant_query("s", at=1_700_000_000)
    assert [s.labels for s in vector] == [{"implementation": "rust"}, {"implementation": "python"}]
    assert vector[0].value != vector[0].value and vector[1].value == 0.25
    assert scalar[0].labels == {} and scalar[0].value == float("inf")
    assert server.requests[0].params["time"] == "1700000000.500"
    assert server.requests[0].path == "/api/v1/query"


def test_5xx_is_retried_a_bounded_number_of_times_then_one_line_error(fake_http: StartFake) -> None:
    server = fake_http(lambda r: json_answer({"status": "error", "errorType": "unavailable", "error": "x"}, 503))
    with fast_client(server.url, retries=3) as client, pytest.raises(BackendError) as info:
        client.instant_query("up", at=1.0)
    message = one_line(info.value)
    assert len(server.requests) == 3
    assert server.url in message and "503" in message and "3 attempts" in message


def test_5xx_then_success_recovers(fake_http: StartFake) -> None:
    calls = iter([503, 502, 200])

    def answer(request: RecordedRequest) -> Answer:
        status = next(calls)
        return prom_vector([({}, "1")]) if status == 200 else (status, {}, "upstream sad")

    server = fake_http(answer)
    with fast_client(server.url, retries=3) as client:
        assert client.instant_query("up", at=1.0)[0].value == 1.0
    assert len(server.requests) == 3


def test_backoff_grows_exponentially(fake_http: StartFake) -> None:
    stamps: list[float] = []

    def answer(request: RecordedRequest) -> Answer:
        stamps.append(time.monotonic())
        return 500, {}, ""

    server = fake_http(answer)
    with fast_client(server.url, retries=3, backoff=0.2) as client, pytest.raises(BackendError):
        client.instant_query("up", at=1.0)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Lower bounds only (sleeps never end early); no upper bounds on a shared machine.
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4


def test_400_bad_data_is_not_retried_and_carries_prometheus_error_text(fake_http: StartFake) -> None:
    error = 'invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
    server = fake_http(lambda r: json_answer({"status": "error", "errorType": "bad_data", "error": error}, 400))
    with fast_client(server.url) as client, pytest.raises(BackendError) as info:
        client.instant_query("sum(", at=1.0)
    message = one_line(info.value)
    assert len(server.requests) == 1
    assert "bad_data" in message and "unclosed left parenthesis" in message and "sum(" in message


def test_422_execution_error_is_not_retried(fake_http: StartFake) -> None:
    server = fake_http(
        lambda r: json_answer({"status": "error", "errorType": "execution", "error": "many-to-many\nmatching"}, 422)
    )
    with fast_client(server.url) as client, pytest.raises(BackendError) as info:
        client.instant_query("a / b", at=1.0)
    assert len(server.requests) == 1
    assert "many-to-many matching" in one_line(info.value)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, {"Content-Type": "text/html"}, "<html><body>Grafana</body></html>"), "not JSON"),
        ((200, {}, ""), "not JSON"),
        (json_answer([1, 2, 3]), "not JSON"),
        (json_answer({"status": "success"}), "not a Prometheus API success answer"),
        (json_answer({"status": "pending", "data": {}}), "not a Prometheus API success answer"),
        (json_answer({"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "2"]}]}}),
         "malformed vector element"),
        (json_answer({"status": "success", "data": {"resultType": "vector",
                                                    "result": [{"metric": {}, "value": [1, "abc"]}]}}),
         "non-numeric value"),
        (json_answer({"status": "success", "data": {"resultType": "vector",
                                                    "result": [{"metric": {}, "value": [1, 2]}]}}),
         "malformed sample value"),
        (json_answer({"status": "success", "data": {"resultType": "matrix", "result": []}}), "matrix"),
        (json_answer({"status": "success", "data": {"resultType": "weird", "result": []}}), "unexpected result"),
    ],
)
def test_garbage_answers_are_one_line_backend_errors(fake_http: StartFake, answer: Answer, expected: str) -> None:
    server = fake_http(lambda r: answer)
    with fast_client(server.url) as client, pytest.raises(BackendError) as info:
        client.instant_query("up", at=1.0)
    message = one_line(info.value)
    assert expected in message and server.url in message
    assert len(server.requests) == 1  # garbage does not get better by asking again


def test_unreachable_port_names_url_attempts_and_reason() -> None:
    port = closed_port()
    with fast_client(f"http://alice:pw-secret@127.0.0.1:{port}", retries=2) as client, pytest.raises(
        BackendError
    ) as info:
        client.instant_query("up", at=1.0)
    assert one_line(info.value) == (
        f"could not connect to http://127.0.0.1:{port}/ after 2 attempts: connection refused"
    )


def test_timeout_is_bounded_and_reported(fake_http: StartFake) -> None:
    release = threading.Event()

    def slow(request: RecordedRequest) -> Answer:
        release.wait(3)
        return prom_vector([])

    server = fake_http(slow)
    try:
        with fast_client(server.url, timeout=0.3, retries=2) as client, pytest.raises(BackendError) as info:
            client.instant_query("up", at=1.0)
    finally:
        release.set()
    assert "timed out after 0.3 s" in one_line(info.value)
    assert len(server.requests) == 2


def test_basic_auth_from_url_userinfo_is_sent_and_never_shown(fake_http: StartFake) -> None:
    server = fake_http(lambda r: json_answer({"status": "error", "error": "denied"}, 401))
    url = server.url.replace("://", "://alice:pa%24%24word@")
    with fast_client(url) as client, pytest.raises(BackendError) as info:
        client.instant_query("up", at=1.0)
    expected = "Basic " + base64.b64encode(b"alice:pa$$word").decode()
    assert server.requests[0].headers["authorization"] == expected
    message = one_line(info.value)
    assert "401" in message and "pa$$word" not in message and "alice" not in message


def test_bearer_token_and_extra_headers_from_env_are_sent(fake_http: StartFake) -> None:
    server = fake_http(lambda r: prom_vector([({}, "1")]))
    env = {ENV_PROM_TOKEN: "t0k3n-xyz", ENV_PROM_HEADERS: "X-Scope-OrgID=tenant-7,X-Extra=1"}
    with PrometheusClient.from_env(server.url, environ=env) as client:
        client.instant_query("up", at=1.0)
    headers = server.requests[0].headers
    assert headers["authorization"] == "Bearer t0k3n-xyz"
    assert headers["x-scope-orgid"] == "tenant-7" and headers["x-extra"] == "1"


def test_an_error_body_echoing_the_token_is_masked(fake_http: StartFake) -> None:
    def echo(request: RecordedRequest) -> Answer:
        return json_answer({"status": "error", "errorType": "bad_data", "error": request.headers["authorization"]}, 400)

    server = fake_http(echo)
    with fast_client(server.url, token="sekrit-token-1") as client, pytest.raises(BackendError) as info:
        client.instant_query("up", at=1.0)
    assert "sekrit-token-1" not in str(info.value) and "***" in str(info.value)


def test_long_queries_are_posted_as_a_form(fake_http: StartFake) -> None:
    server = fake_http(lambda r: prom_vector([({}, "3")]))
    long_query = "sum(" + " + ".join(f'x{{job="j{i}"}}' for i in range(400)) + ")"
    with fast_client(server.url) as client:
        assert client.instant_query(long_query, at=5.0)[0].value == 3.0
        client.instant_query("up", at=5.0)
    posted, short = server.requests
    assert posted.method == "POST" and posted.params["query"] == long_query and posted.params["time"] == "5.000"
    assert short.method == "GET"


def test_path_prefix_is_kept(fake_http: StartFake) -> None:
    server = fake_http(prom_buildinfo_for_any)
    with fast_client(server.url + "/prometheus/") as client:
        assert client.buildinfo()["version"] == "2.42.0-fake"
    assert server.requests[0].path == "/prometheus/api/v1/status/buildinfo"


def prom_buildinfo_for_any(request: RecordedRequest) -> Answer:
    return prom_buildinfo()


def test_buildinfo_404_means_reachable_without_buildinfo(fake_http: StartFake) -> None:
    server = fake_http(lambda r: (404, {"Content-Type": "text/plain"}, "404 page not found"))
    with fast_client(server.url) as client:
        assert client.buildinfo() == {}
        with pytest.raises(BackendError) as info:
            client.instant_query("up", at=1.0)
    assert "404" in one_line(info.value) and "Prometheus API URL" in str(info.value)


@pytest.fixture
def tls_server(tmp_path, openssl_bin: str):
    files = make_tls_files(tmp_path / "tls", openssl_bin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_cert, files.server_key)
    with FakeHTTPServer(lambda r: prom_vector([({"tls": "yes"}, "1")]), ssl_context=context) as server:
        yield server, files


def test_tls_with_custom_ca(tls_server) -> None:
    server, files = tls_server
    with fast_client(server.url, ca_file=str(files.ca_cert)) as client:
        assert client.instant_query("up", at=1.0)[0].labels == {"tls": "yes"}


def test_tls_without_the_ca_fails_once_with_one_line(tls_server) -> None:
    server, _ = tls_server
    with fast_client(server.url, retries=3) as client, pytest.raises(BackendError) as info:
        client.instant_query("up", at=1.0)
    message = one_line(info.value)
    assert "TLS" in message and "certificate" in message and server.url in message
    assert len(server.requests) == 0  # the handshake failed; a certificate problem is not retried


def test_verify_false_skips_certificate_checks(tls_server) -> None:
    server, _ = tls_server
    with fast_client(server.url, verify=False) as client:
        assert client.instant_query("up", at=1.0)[0].value == 1.0
