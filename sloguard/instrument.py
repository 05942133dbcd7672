"""OpenTelemetry instrumentation of SARK's authorization paths: the metric contract of docs/architecture.md.

SARK (or the reference service) builds one ``Instrumentation`` and records through
pre-bound recorders, so the hot path never builds an attribute dict:

    inst = Instrumentation()
    inst.authz[("rust", "allow", "hit")].observe(seconds)
    body = inst.exposition()          # Prometheus text for GET /metrics

Everything is exported through OpenTelemetry's Prometheus exporter
(opentelemetry-exporter-prometheus), which names the series: an instrument named
``sark_authz_duration_seconds`` with unit ``s`` becomes ``sark_authz_duration_seconds_bucket``;
a counter gets ``_total``.

Three modes, chosen at construction:

- ``fast`` (default): counters and the rollout gauge are OpenTelemetry *asynchronous*
  instruments whose callbacks read plain in-process counts; histograms are aggregated
  in-process with the same explicit boundaries and handed to the exporter as OpenTelemetry
  ``Histogram`` points by the reader at collection time. A recording costs well under a
  microsecond.
- ``otel``: stock synchronous OpenTelemetry instruments (Histogram.record / Counter.add with
  pre-built attribute dicts and explicit-bucket Views). Identical output; each recording costs
  several microseconds (measured in tests/benchmarks/bench_paths.py), which is why it is
  not the default.
- ``off``: recorders do nothing (the observer-effect baseline); /metrics still serves the
  process collector.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from sloguard import conventions as c

# OpenTelemetry and prometheus_client (the demo extra) are imported inside the methods that use them,
# so that importing this module stays cheap until an Instrumentation is made.

MODES = ("fast", "otel", "off")
# The results each cache operation can have (a set never "hits").
_CACHE_RESULTS_BY_OP = {"get": ("hit", "miss", "error"), "set": ("ok", "error"), "delete": ("ok", "error")}
SCOPE_NAME = "sloguard.instrument"

_DESCRIPTIONS = {
    c.AUTHZ_DURATION: "End-to-end authorization decision latency in the gateway.",
    c.AUTHZ_REQUESTS: "Authorization decisions by implementation and outcome.",
    c.OPA_DURATION: "Policy evaluation latency.",
    c.OPA_EVALUATIONS: "Policy evaluations.",
    c.OPA_ERRORS: "Policy evaluations that failed.",
    c.CACHE_DURATION: "Decision-cache operation latency.",
    c.CACHE_OPERATIONS: "Decision-cache operations by result.",
    c.FLAG_ASSIGNMENTS: "Feature-flag assignments of requests to an implementation.",
    c.FLAG_ROLLOUT: "Rollout percentage of a feature flag (0-100).",
    c.FALLBACKS: "Requests that fell back from the Rust implementation to Python.",
}


def _otel_name(prometheus_name: str) -> str:
    """The instrument name whose exported Prometheus name is ``prometheus_name``.

    The exporter (through prometheus_client) appends ``_total`` to counters itself, so the
    instrument carries the name without it; histogram names keep ``_seconds`` and get unit
    ``s``, which the exporter maps to ``seconds`` without repeating it.
    """
    return prometheus_name.removesuffix("_total")


class _Noop:
    """A recorder that records nothing (mode ``off``)."""

    __slots__ = ()

    def observe(self, value: float) -> None:
        """Ignore a measurement."""

    def inc(self, amount: float = 1) -> None:
        """Ignore an increment."""


_NOOP = _Noop()


class _FastHistogram:
    """One histogram series aggregated in-process with explicit boundaries (OTel semantics).

    The event count is not kept separately: it is the sum of the bucket counts, so the
    counter that counts the same events (e.g. sark_authz_requests_total) is derived at
    collection time and a recording touches one object only.
    """

    __slots__ = ("_bounds", "_lock", "counts", "max", "min", "observe", "sum")

    def __init__(self, bounds: Sequence[float], thread_safe: bool = True) -> None:
        self._bounds = tuple(bounds)
        self._lock = threading.Lock()
        self.counts = [0] * (len(self._bounds) + 1)
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        # A single event-loop thread needs no lock (about half the cost of a recording).
        self.observe = self._observe_locked if thread_safe else self._observe

    def _observe(self, value: float) -> None:
        """Record one value; bucket i holds (bounds[i-1], bounds[i]] as in OpenTelemetry."""
        self.counts[bisect_left(self._bounds, value)] += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def _observe_locked(self, value: float) -> None:
        with self._lock:
            self._observe(value)

    def snapshot(self) -> tuple[list[int], float, float, float]:
        """A consistent copy for export: (bucket counts, sum, min, max)."""
        with self._lock:
            return list(self.counts), self.sum, self.min, self.max


class _FastCounter:
    """One monotonic counter series kept in-process and read by an OTel callback."""

    __slots__ = ("_lock", "inc", "value")

    def __init__(self, thread_safe: bool = True) -> None:
        self._lock = threading.Lock()
        self.value: float = 0
        self.inc = self._inc_locked if thread_safe else self._inc

    def _inc(self, amount: float = 1) -> None:
        """Add to the counter."""
        self.value += amount

    def _inc_locked(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount


class _Pair:
    """A histogram series and the counter series that counts the same events."""

    __slots__ = ("_counter", "_histogram")

    def __init__(self, histogram: Any, counter: Any) -> None:
        self._histogram = histogram
        self._counter = counter

    def observe(self, value: float) -> None:
        """Record the duration and count the event."""
        self._histogram.observe(value)
        self._counter.inc()


class _OtelHistogram:
    """A stock OTel Histogram bound to a pre-built attribute dict."""

    __slots__ = ("_attributes", "_record")

    def __init__(self, instrument: Any, attributes: dict[str, str]) -> None:
        self._record = instrument.record
        self._attributes = attributes

    def observe(self, value: float) -> None:
        """Histogram.record with the pre-built attributes."""
        self._record(value, self._attributes)


class _OtelCounter:
    """A stock OTel Counter bound to a pre-built attribute dict."""

    __slots__ = ("_add", "_attributes")

    def __init__(self, instrument: Any, attributes: dict[str, str]) -> None:
        self._add = instrument.add
        self._attributes = attributes

    def inc(self, amount: float = 1) -> None:
        """Counter.add with the pre-built attributes."""
        self._add(amount, self._attributes)


# Fast mode: each histogram is kept with these labels ...
_KEPT_LABELS = {
    c.AUTHZ_DURATION: (c.LABEL_IMPLEMENTATION, c.LABEL_DECISION, c.LABEL_CACHE),
    c.OPA_DURATION: (c.LABEL_IMPLEMENTATION,),
    c.CACHE_DURATION: (c.LABEL_IMPLEMENTATION, c.LABEL_OPERATION, c.LABEL_RESULT),
}
# ... exported with these ...
_EXPORTED_LABELS = {
    c.AUTHZ_DURATION: (c.LABEL_IMPLEMENTATION, c.LABEL_DECISION, c.LABEL_CACHE),
    c.OPA_DURATION: (c.LABEL_IMPLEMENTATION,),
    c.CACHE_DURATION: (c.LABEL_IMPLEMENTATION, c.LABEL_OPERATION),
}
# ... and these counters count the same events, so they are derived from the histograms' counts.
_DERIVED_COUNTERS = {
    c.AUTHZ_REQUESTS: (c.AUTHZ_DURATION, (c.LABEL_IMPLEMENTATION, c.LABEL_DECISION)),
    c.OPA_EVALUATIONS: (c.OPA_DURATION, (c.LABEL_IMPLEMENTATION,)),
    c.CACHE_OPERATIONS: (c.CACHE_DURATION, (c.LABEL_IMPLEMENTATION, c.LABEL_OPERATION, c.LABEL_RESULT)),
}
_OWN_COUNTERS = (c.OPA_ERRORS, c.FLAG_ASSIGNMENTS, c.FALLBACKS)

_Key = tuple[tuple[str, str], ...]


def _key(attributes: dict[str, str], keep: Sequence[str]) -> _Key:
    return tuple((name, attributes[name]) for name in sorted(keep))


def _merge(series: dict[_Key, _FastHistogram], keep: Sequence[str]) -> dict[_Key, list[Any]]:
    """Histogram snapshots summed over the labels not in ``keep``: key -> [counts, sum, min, max]."""
    kept = set(keep)
    out: dict[_Key, list[Any]] = {}
    for key, hist in list(series.items()):
        counts, total, low, high = hist.snapshot()
        group = tuple(item for item in key if item[0] in kept)
        into = out.get(group)
        if into is None:
            out[group] = [counts, total, low, high]
        else:
            into[0] = [a + b for a, b in zip(into[0], counts, strict=True)]
            into[1] += total
            into[2] = min(into[2], low)
            into[3] = max(into[3], high)
    return out


class Instrumentation:
    """MeterProvider + Prometheus reader + the contract's instruments, with pre-bound recorders.

    ``thread_safe=False`` drops the locks of mode ``fast``: right for a single event-loop
    thread (the reference service), wrong when several threads record.
    """

    def __init__(
        self,
        mode: str = "fast",
        *,
        registry: Any = None,
        process_metrics: bool = True,
        service_name: str = "sark",
        thread_safe: bool = True,
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import CollectorRegistry, ProcessCollector

        if mode not in MODES:
            raise ValueError(f"unknown instrumentation mode {mode!r} (expected one of {', '.join(MODES)})")
        self.mode = mode
        self.thread_safe = thread_safe
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._start_ns = time.time_ns()
        self._histograms: dict[str, dict[_Key, _FastHistogram]] = {name: {} for name in _KEPT_LABELS}
        self._counters: dict[str, dict[_Key, _FastCounter]] = {name: {} for name in _OWN_COUNTERS}
        self._rollout: dict[str, float] = {}
        self._otel: dict[str, Any] = {}

        self._reader = _make_reader(self.registry, self._fast_metrics)
        views = [
            View(instrument_name=_otel_name(name), aggregation=ExplicitBucketHistogramAggregation(c.LATENCY_BUCKETS))
            for name in _KEPT_LABELS
        ]
        kwargs: dict[str, Any] = {}
        try:  # exemplars need trace context we do not have; sampling them only costs time
            from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter

            kwargs["exemplar_filter"] = AlwaysOffExemplarFilter()
        except ImportError:  # older SDKs have no exemplars at all
            pass
        self.meter_provider = MeterProvider(
            metric_readers=[self._reader],
            views=views,
            resource=Resource.create({"service.name": service_name}),
            **kwargs,
        )
        self._meter = self.meter_provider.get_meter(SCOPE_NAME)
        self._create_instruments()

        # Pre-bound recorders for every label combination the contract allows.
        self.authz = {
            (impl, decision, cache): self._timed(
                c.AUTHZ_DURATION,
                c.AUTHZ_REQUESTS,
                {c.LABEL_IMPLEMENTATION: impl, c.LABEL_DECISION: decision, c.LABEL_CACHE: cache},
            )
            for impl in c.IMPLEMENTATIONS
            for decision in c.DECISIONS
            for cache in c.CACHE_STATES
        }
        self.opa = {
            impl: self._timed(c.OPA_DURATION, c.OPA_EVALUATIONS, {c.LABEL_IMPLEMENTATION: impl})
            for impl in c.IMPLEMENTATIONS
        }
        self.cache = {
            (impl, op, result): self._timed(
                c.CACHE_DURATION,
                c.CACHE_OPERATIONS,
                {c.LABEL_IMPLEMENTATION: impl, c.LABEL_OPERATION: op, c.LABEL_RESULT: result},
            )
            for impl in c.IMPLEMENTATIONS
            for op in c.CACHE_OPS
            for result in _CACHE_RESULTS_BY_OP[op]
        }
        self.flag = {
            (feature, impl): self._counter(c.FLAG_ASSIGNMENTS, {c.LABEL_FEATURE: feature, c.LABEL_IMPLEMENTATION: impl})
            for feature in c.FEATURE_FLAGS
            for impl in c.IMPLEMENTATIONS
        }
        self._opa_errors: dict[tuple[str, str], Any] = {}
        self._fallbacks: dict[tuple[str, str], Any] = {}
        for impl in c.IMPLEMENTATIONS:
            for error_type in c.ERROR_TYPES:
                self.opa_error(impl, error_type, 0)
        for feature in c.FEATURE_FLAGS:
            for error_type in c.ERROR_TYPES:
                self.fallback(feature, error_type, 0)
            self.set_rollout(feature, 0.0)

    # -- instruments ---------------------------------------------------------------------------

    def _create_instruments(self) -> None:
        """Create the OTel instruments of the chosen mode."""
        from opentelemetry.metrics import CallbackOptions, Observation

        if self.mode == "otel":
            for name in _KEPT_LABELS:
                self._otel[name] = self._meter.create_histogram(
                    _otel_name(name), unit="s", description=_DESCRIPTIONS[name]
                )
            for name in (*_DERIVED_COUNTERS, *_OWN_COUNTERS):
                self._otel[name] = self._meter.create_counter(_otel_name(name), description=_DESCRIPTIONS[name])
        elif self.mode == "fast":
            for name, (source, keep) in _DERIVED_COUNTERS.items():

                def derived(
                    options: CallbackOptions, source: str = source, keep: tuple[str, ...] = keep
                ) -> Iterable[Any]:
                    for key, (counts, *_rest) in _merge(self._histograms[source], keep).items():
                        yield Observation(sum(counts), dict(key))

                self._meter.create_observable_counter(
                    _otel_name(name), callbacks=[derived], description=_DESCRIPTIONS[name]
                )
            for name in _OWN_COUNTERS:

                def own(
                    options: CallbackOptions, series: dict[_Key, _FastCounter] = self._counters[name]
                ) -> Iterable[Any]:
                    for key, counter in list(series.items()):
                        yield Observation(counter.value, dict(key))

                self._meter.create_observable_counter(
                    _otel_name(name), callbacks=[own], description=_DESCRIPTIONS[name]
                )

        def rollout(options: CallbackOptions) -> Iterable[Any]:
            for feature, pct in list(self._rollout.items()):
                yield Observation(pct, {c.LABEL_FEATURE: feature})

        # The gauge is cheap (set only by the admin API), so every mode uses the async instrument.
        if self.mode != "off":
            self._meter.create_observable_gauge(
                _otel_name(c.FLAG_ROLLOUT), callbacks=[rollout], description=_DESCRIPTIONS[c.FLAG_ROLLOUT]
            )

    def _timed(self, histogram: str, counter: str, attributes: dict[str, str]) -> Any:
        """A recorder of one duration that also counts the event (in ``counter``)."""
        if self.mode == "off":
            return _NOOP
        if self.mode == "otel":
            return _Pair(
                _OtelHistogram(self._otel[histogram], {k: attributes[k] for k in _EXPORTED_LABELS[histogram]}),
                self._counter(counter, {k: attributes[k] for k in _DERIVED_COUNTERS[counter][1]}),
            )
        key = _key(attributes, _KEPT_LABELS[histogram])
        series = self._histograms[histogram]
        with self._lock:
            if key not in series:
                series[key] = _FastHistogram(c.LATENCY_BUCKETS, self.thread_safe)
            return series[key]

    def _counter(self, name: str, attributes: dict[str, str]) -> Any:
        """A bound counter series of ``name``; exported from zero so rate() works from the start."""
        if self.mode == "off":
            return _NOOP
        if self.mode == "otel":
            bound = _OtelCounter(self._otel[name], dict(attributes))
            bound.inc(0)
            return bound
        key = _key(attributes, tuple(attributes))
        series = self._counters[name]
        with self._lock:
            if key not in series:
                series[key] = _FastCounter(self.thread_safe)
            return series[key]

    # -- recording (besides the pre-bound dicts) -----------------------------------------------

    def opa_error(self, implementation: str, error_type: str, amount: int = 1) -> None:
        """Count a failed policy evaluation."""
        self._count_error(self._opa_errors, c.OPA_ERRORS, c.LABEL_IMPLEMENTATION, implementation, error_type, amount)

    def fallback(self, feature: str, error_type: str, amount: int = 1) -> None:
        """Count a request that fell back from Rust to Python."""
        self._count_error(self._fallbacks, c.FALLBACKS, c.LABEL_FEATURE, feature, error_type, amount)

    def _count_error(self, bound_series: dict[tuple[str, str], Any], counter: str, label: str, value: str,
                     error_type: str, amount: int) -> None:
        """Add to a counter by (label, error_type), binding its series on first use (errors are rare)."""
        key = (value, error_type)
        bound = bound_series.get(key)
        if bound is None:
            bound = bound_series[key] = self._counter(counter, {label: value, c.LABEL_ERROR_TYPE: error_type})
        if amount:
            bound.inc(amount)

    def set_rollout(self, feature: str, percentage: float) -> None:
        """Set feature_flag_rollout_percentage{feature}."""
        self._rollout[feature] = float(percentage)

    # -- export --------------------------------------------------------------------------------

    def _fast_metrics(self) -> list[Any]:
        """The in-process histograms as OpenTelemetry Histogram metrics (mode ``fast``)."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Histogram,
            HistogramDataPoint,
            Metric,
        )

        if self.mode != "fast":
            return []
        now = time.time_ns()
        metrics = []
        for name, series in self._histograms.items():
            points = [
                HistogramDataPoint(
                    attributes=dict(key),
                    start_time_unix_nano=self._start_ns,
                    time_unix_nano=now,
                    count=sum(counts),
                    sum=total,
                    bucket_counts=counts,
                    explicit_bounds=c.LATENCY_BUCKETS,
                    min=low,
                    max=high,
                )
                for key, (counts, total, low, high) in _merge(series, _EXPORTED_LABELS[name]).items()
            ]
            metrics.append(
                Metric(
                    name=_otel_name(name),
                    description=_DESCRIPTIONS[name],
                    unit="s",
                    data=Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE),
                )
            )
        return metrics

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric (what GET /metrics serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Stop the MeterProvider and unregister the reader from the registry."""
        self.meter_provider.shutdown()


def _make_reader(registry: Any, extra: Any) -> Any:
    """A PrometheusMetricReader that also exports the in-process histograms of mode ``fast``.

    The Python SDK has no MetricProducer hook yet, so the reader merges the extra metrics
    into what the SDK collected, under the instrumentation's own scope, before the
    exporter translates everything to Prometheus.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    class _SarkPrometheusReader(PrometheusMetricReader):
        def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            metrics = extra()
            if metrics and metrics_data is not None and metrics_data.resource_metrics:
                first = metrics_data.resource_metrics[0]
                scope = ScopeMetrics(scope=InstrumentationScope(SCOPE_NAME), metrics=metrics, schema_url="")
                merged = ResourceMetrics(
                    resource=first.resource,
                    scope_metrics=[*first.scope_metrics, scope],
                    schema_url=first.schema_url,
                )
                metrics_data = MetricsData(resource_metrics=[merged, *metrics_data.resource_metrics[1:]])
            super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    # Scope labels (otel_scope_name, ...) would add constant labels to every series; the contract
    # names exactly the labels above, so they are left out.
    return _SarkPrometheusReader(registry=registry, scope_info_enabled=False)


__all__ = ["MODES", "Instrumentation"]
