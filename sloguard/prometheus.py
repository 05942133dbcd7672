"""Prometheus HTTP API access: instant queries with timeouts, bounded retries, auth, TLS and redaction.

Any Prometheus-API backend works (Prometheus, Thanos, Mimir, VictoriaMetrics): sloguard
only speaks /api/v1/query and /api/v1/status/buildinfo. Every failure becomes a one-line
BackendError that names the URL without credentials; headers, tokens and passwords are
never printed.
"""

from __future__ import annotations

import math
import os
import re
import ssl
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

from sloguard.conventions import (
    ENV_PROM_CA,
    ENV_PROM_HEADERS,
    ENV_PROM_PASSWORD,
    ENV_PROM_TOKEN,
    ENV_PROM_USER,
)
from sloguard.errors import BackendError, UsageError

# httpx imports its own command-line client (rich.progress, rich.syntax, pygments: ~25 ms)
# whenever those packages are installed; a library caller never runs it, and `sloguard check`
# is benchmarked on its cold start. A None entry makes that optional import fall back.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpx  # noqa: E402

# Past this many bytes of encoded form a GET URL risks proxies' URL-length limits
# (often 4-8 KiB); Prometheus accepts the same form as a POST body.
_MAX_GET_FORM_BYTES = 2000
# Exponential backoff doubles per attempt; the cap keeps a generous `backoff` from
# turning a dead backend into a minutes-long hang.
_MAX_BACKOFF_SECONDS = 8.0
# HTTP statuses worth retrying: the server is overloaded or restarting (5xx), or asks
# us to slow down (429). Any other 4xx is the query's or the credentials' fault.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SNIPPET_CHARS = 60


@dataclass(frozen=True)
class Sample:
    """One element of an instant-query result."""

    labels: dict[str, str]  # as Prometheus returns them: no __name__ unless the result kept it
    value: float  # may be nan or ±inf: Prometheus returns "NaN", "+Inf", "-Inf"


def bucket_counts(samples: Sequence[Sample],
                  key: Callable[[dict[str, str]], str]) -> dict[str, list[tuple[float, float]]]:
    """(upper bound, cumulative count) per `key(labels)` from a `sum by (le, ...)` answer; unreadable `le`s skipped."""
    grouped: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        try:
            bound = float(sample.labels.get("le", "nan"))  # float() reads Prometheus's "+Inf"
        except ValueError:
            continue
        grouped.setdefault(key(sample.labels), []).append((bound, sample.value))
    return grouped


def redact_url(url: str) -> str:
    """The URL as it may be printed: no user, password, query string or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))


def parse_headers(text: str, *, source: str = ENV_PROM_HEADERS) -> dict[str, str]:
    """Parse extra headers written as "Name=value,Name2=value2" (values are never echoed back)."""
    headers: dict[str, str] = {}
    for position, item in enumerate(text.split(","), start=1):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"{source}: entry {position} has no '=' (expected 'Name=value,Name2=value2')")
        if not _HEADER_NAME.match(name):
            raise UsageError(f"{source}: entry {position} has an invalid header name {name!r}")
        headers[name] = value.strip()
    return headers


class PrometheusClient:
    """A small synchronous client for the Prometheus HTTP API.

    `retries` is how many times a request is tried in all (at least once); between
    attempts it sleeps `backoff`, 2×`backoff`, 4×`backoff`, ... Connection errors,
    timeouts, 429 and 5xx are retried; other 4xx and malformed answers are not.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        ca_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify: bool = True,
    ) -> None:
        parts = _check_url(url)
        self.url = redact_url(url)  # the only form of the URL that appears in messages
        # Credentials in the URL's userinfo are basic auth; explicit arguments win.
        if username is None and parts.username:
            username = unquote(parts.username)
            if password is None and parts.password is not None:
                password = unquote(parts.password)
        if token and username:
            raise UsageError(f"Prometheus {self.url}: give either basic auth or a bearer token, not both")
        # Values we hold that must never be printed, even if a server echoes them back. Extra
        # header values can be API keys; short ones (a tenant id "1") would only garble messages.
        extra_values = [v for v in (headers or {}).values() if len(v) >= 6]
        self._secrets = tuple(s for s in (password, token, parts.password, *extra_values) if s)
        self._base = _strip_userinfo(parts).rstrip("/")
        self._timeout = float(timeout)
        self._attempts = max(1, int(retries))
        self._backoff = max(0.0, float(backoff))

        request_headers = {"Accept": "application/json", "User-Agent": "sloguard"}
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        request_headers.update(headers or {})
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._client = httpx.Client(
            timeout=httpx.Timeout(self._timeout),
            headers=request_headers,
            auth=auth,
            verify=_ssl_context(ca_file, verify, self.url),
            follow_redirects=True,
            # The check talks to the URL it is given: a proxy from HTTP(S)_PROXY meant for other
            # tools would otherwise sit between us and a loopback Prometheus and see the credentials.
            trust_env=False,
        )

    @classmethod
    def from_env(
        cls, url: str, *, environ: Mapping[str, str] | None = None, **kwargs: Any
    ) -> PrometheusClient:
        """A client whose credentials, CA file and extra headers come from SLOGUARD_PROMETHEUS_* env vars.

        Keyword arguments override the environment; extra headers from both are merged.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get(ENV_PROM_USER):
            values["username"] = env[ENV_PROM_USER]
            values["password"] = env.get(ENV_PROM_PASSWORD, "")
        elif env.get(ENV_PROM_PASSWORD):
            raise UsageError(f"{ENV_PROM_PASSWORD} is set but {ENV_PROM_USER} is not")
        if env.get(ENV_PROM_TOKEN):
            values["token"] = env[ENV_PROM_TOKEN]
        if env.get(ENV_PROM_CA):
            values["ca_file"] = env[ENV_PROM_CA]
        headers = parse_headers(env.get(ENV_PROM_HEADERS, ""))
        headers.update(kwargs.pop("headers", None) or {})
        if headers:
            values["headers"] = headers
        values.update(kwargs)
        return cls(url, **values)

    def instant_query(self, query: str, at: float) -> list[Sample]:
        """Evaluate `query` at unix time `at`; a vector gives its samples, a scalar one sample with {}."""
        form = {"query": query, "time": _format_time(at)}
        data = self._call("/api/v1/query", form, what="the query")
        result_type = data.get("resultType")
        result = data.get("result")
        if result_type == "vector" and isinstance(result, list):
            return [_vector_sample(item, self.url) for item in result]
        if result_type == "scalar":
            return [Sample({}, _parse_value(result, self.url))]
        if result_type in ("matrix", "string"):
            raise BackendError(
                f"Prometheus at {self.url} returned a {result_type} for an instant query; "
                f"the query must give an instant vector or a scalar: {_shorten(query)}"
            )
        raise BackendError(f"Prometheus at {self.url} answered a query with an unexpected result shape")

    def buildinfo(self) -> dict[str, Any]:
        """The server's build information; {} from API-compatible backends that do not expose it."""
        try:
            data = self._call("/api/v1/status/buildinfo", None, what="buildinfo")
        except _NotFound:
            # Reachable and speaking HTTP; some Prometheus-API backends lack this endpoint.
            return {}
        return data

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PrometheusClient({self.url!r})"

    # ---- internals ---------------------------------------------------------------------------

    def _call(self, path: str, form: dict[str, str] | None, *, what: str) -> dict[str, Any]:
        """One API call with retries; returns the `data` member of a success answer."""
        url = self._base + path
        last_problem = ""
        last_status: int | None = None
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                time.sleep(min(self._backoff * 2 ** (attempt - 2), _MAX_BACKOFF_SECONDS))
            try:
                response = self._send(url, form)
            except httpx.TimeoutException:
                last_problem, last_status = f"timed out after {self._timeout:g} s", None
                continue
            except httpx.TransportError as exc:
                if _is_certificate_error(exc):
                    # A certificate that fails verification will fail the same way next time.
                    raise BackendError(
                        f"could not connect to {self.url}: TLS error: {self._describe(exc)}"
                    ) from None
                last_problem, last_status = self._describe(exc), None
                continue
            if response.status_code in _RETRY_STATUSES:
                last_status = response.status_code
                last_problem = self._error_text(response).removeprefix(": ").strip()
                continue
            return self._data(response, what, form)
        tries = "1 attempt" if self._attempts == 1 else f"{self._attempts} attempts"
        if last_status is not None:
            detail = f": {last_problem}" if last_problem else ""
            raise BackendError(f"Prometheus at {self.url} answered HTTP {last_status} after {tries}{detail}")
        raise BackendError(f"could not connect to {self.url} after {tries}: {last_problem}")

    def _send(self, url: str, form: dict[str, str] | None) -> httpx.Response:
        if form is None:
            return self._client.get(url)
        encoded = urlencode(form)
        if len(encoded) <= _MAX_GET_FORM_BYTES:
            return self._client.get(url, params=form)
        return self._client.post(
            url, content=encoded, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

    def _data(self, response: httpx.Response, what: str, form: dict[str, str] | None) -> dict[str, Any]:
        status = response.status_code
        if status == 404:
            raise _NotFound(
                f"Prometheus at {self.url} answered HTTP 404 for {what}; is this a Prometheus API URL?"
            )
        if status in (401, 403):
            raise BackendError(
                f"Prometheus at {self.url} refused the credentials "
                f"(HTTP {status}){self._error_text(response)}"
            )
        body = _json(response)
        if body is None:
            raise BackendError(
                f"Prometheus at {self.url} answered {what} with something that is not JSON "
                f"(HTTP {status}, {self._content_type(response)}): {self._snippet(response)}"
            )
        if body.get("status") == "error" or status >= 400:
            error_type = self._clean(str(body.get("errorType") or f"HTTP {status}"))
            error = self._clean(str(body.get("error") or response.reason_phrase))
            query = f"; query: {_shorten(form['query'])}" if form and "query" in form else ""
            raise BackendError(f"Prometheus at {self.url} rejected {what} ({error_type}): {error}{query}")
        data = body.get("data")
        if body.get("status") != "success" or not isinstance(data, dict):
            raise BackendError(
                f"Prometheus at {self.url} answered {what} with JSON that is not a Prometheus API "
                f"success answer: {self._snippet(response)}"
            )
        return data

    def _error_text(self, response: httpx.Response) -> str:
        body = _json(response)
        if body and body.get("error"):
            return f": {self._clean(str(body['error']))}"
        return f" {response.reason_phrase}" if response.reason_phrase else ""

    def _content_type(self, response: httpx.Response) -> str:
        return self._clean(response.headers.get("content-type", "no content type").split(";")[0])

    def _snippet(self, response: httpx.Response) -> str:
        text = self._clean(response.text[: _SNIPPET_CHARS * 4])
        if not text:
            return "an empty body"
        return repr(text[:_SNIPPET_CHARS] + ("..." if len(text) > _SNIPPET_CHARS else ""))

    def _describe(self, exc: Exception) -> str:
        """A short lower-case reason: "connection refused", not "[Errno 111] Connection refused"."""
        text = str(exc) or type(exc).__name__
        text = re.sub(r"\[Errno -?\d+\]\s*", "", text)
        text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
        text = self._clean(text)
        return text[:1].lower() + text[1:]

    def _clean(self, text: str) -> str:
        """One line, and no secret we hold even if a server or library echoes it back."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
            text = text.replace(quote(secret, safe=""), "***")
        return " ".join(text.split())

    def range_query(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """Evaluate `query` every `step` seconds over [start, end]: (labels, [(time, value), ...]) per series."""
        form = {"query": query, "start": _format_time(start), "end": _format_time(end), "step": f"{step:g}"}
        data = self._call("/api/v1/query_range", form, what="the range query")
        result = data.get("result")
        if data.get("resultType") != "matrix" or not isinstance(result, list):
            raise BackendError(f"Prometheus at {self.url} answered a range query with an unexpected result shape")
        out = []
        for item in result:
            if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
                raise BackendError(f"Prometheus at {self.url} answered a range query with a malformed series")
            values = item.get("values") or []
            points = [(float(pair[0]), _parse_value(pair, self.url)) for pair in values]
            out.append(({str(k): str(v) for k, v in item["metric"].items()}, points))
        return out


class _NotFound(BackendError):
    """HTTP 404: the URL does not point at a Prometheus API (or lacks this endpoint)."""


def _check_url(url: str) -> Any:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise UsageError(f"not a valid Prometheus URL: {redact_url(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"the Prometheus URL must start with http:// or https:// and name a host, got {redact_url(url)!r}"
        )
    return parts


def _strip_userinfo(parts: Any) -> str:
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _ssl_context(ca_file: str | None, verify: bool, url: str) -> ssl.SSLContext | bool:
    if not verify:
        return False
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = " ".join((exc.strerror or str(exc)).split()) if isinstance(exc, OSError) else str(exc)
        raise UsageError(f"cannot use CA file {ca_file} for {url}: {reason}") from None


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _vector_sample(item: Any, url: str) -> Sample:
    if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
        raise BackendError(f"Prometheus at {url} answered a query with a malformed vector element")
    labels = {str(k): str(v) for k, v in item["metric"].items()}
    return Sample(labels, _parse_value(item.get("value"), url))


def _parse_value(pair: Any, url: str) -> float:
    """A [timestamp, "value"] pair; Prometheus spells specials "NaN", "+Inf" and "-Inf"."""
    if not isinstance(pair, list | tuple) or len(pair) != 2 or not isinstance(pair[1], str):
        raise BackendError(f"Prometheus at {url} answered a query with a malformed sample value")
    try:
        return float(pair[1])
    except ValueError:
        raise BackendError(f"Prometheus at {url} answered a query with a non-numeric value") from None


def _format_time(at: float) -> str:
    if not math.isfinite(at):
        raise UsageError(f"cannot query Prometheus at time {at}")
    # Millisecond precision is what Prometheus stores; more digits only invite rounding noise.
    return f"{at:.3f}"


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
