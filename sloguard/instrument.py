"""OpenTelemetry instrumentation of SARK's authorization paths: the metric contract of docs/architecture.md.

SARK (or the reference service) builds one ``Instrumentation`` and records through recorders
looked up by their label values, so the hot path is one dict lookup and one update:

    inst = Instrumentation()
    inst.authz[("rust", "allow", "hit", "gateway:tool:invoke", "docs-mcp")].observe(seconds)
    body = inst.exposition()          # Prometheus text for GET /metrics

What is recorded (sources: one recording per event) and what is exported (families: sloguard's
contract and SARK's gateway and policy families, each a projection of the sources) are declared in
sloguard/metric_families.py. Everything is exported through OpenTelemetry's Prometheus exporter
(opentelemetry-exporter-prometheus), which names the series: an instrument named
``sark_authz_duration_seconds`` with unit ``s`` becomes ``sark_authz_duration_seconds_bucket``;
a counter gets ``_total``.

Three modes, chosen at construction:

- ``fast`` (default): each source series is aggregated in-process (histograms with the explicit
  boundaries, counts as plain numbers); at collection time the reader projects them onto every
  family and hands them to the exporter as OpenTelemetry points. A recording costs well under a
  microsecond however many families count the event.
- ``otel``: stock synchronous OpenTelemetry instruments, one per family; a recording updates
  every family it feeds (Histogram.record / Counter.add with pre-built attribute dicts and
  explicit-bucket Views). Identical output; each update costs several microseconds (measured in
  tests/benchmarks/bench_paths.py), which is why it is not the default.
- ``off``: recorders do nothing (the observer-effect baseline); /metrics still serves the
  process collector.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sloguard import conventions as c
from sloguard.metric_families import (
    AUTHZ,
    CACHE,
    COUNTER,
    FALLBACKS,
    FLAGS,
    HISTOGRAM,
    IN_FLIGHT,
    OPA,
    OPA_ERRORS,
    REQUESTS,
    SOURCES,
    Key,
    Source,
    families,
    policy_name,
)

# OpenTelemetry and prometheus_client (the demo extra) are imported inside the methods that use them,
# so that importing this module stays cheap until an Instrumentation is made.

MODES = ("fast", "otel", "off")
SCOPE_NAME = "sloguard.instrument"
_FLAG_ROLLOUT_HELP = "Rollout percentage of a feature flag (0-100)."


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

    def dec(self, amount: float = 1) -> None:
        """Ignore a decrement."""


_NOOP = _Noop()


class _FastHistogram:
    """One histogram series aggregated in-process with explicit boundaries (OTel semantics).

    The event count is not kept separately: it is the sum of the bucket counts, so the
    counters that count the same events (e.g. sark_authz_requests_total) are derived at
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


class _FastValue:
    """One counter or up-down series kept in-process as a plain number."""

    __slots__ = ("_lock", "dec", "inc", "value")

    def __init__(self, thread_safe: bool = True) -> None:
        self._lock = threading.Lock()
        self.value: float = 0
        self.inc = self._inc_locked if thread_safe else self._inc
        self.dec = self._dec_locked if thread_safe else self._dec

    def _inc(self, amount: float = 1) -> None:
        """Add to the value."""
        self.value += amount

    def _dec(self, amount: float = 1) -> None:
        """Subtract from the value (gauges only)."""
        self.value -= amount

    def _inc_locked(self, amount: float = 1) -> None:
        with self._lock:
            self.value += amount

    def _dec_locked(self, amount: float = 1) -> None:
        with self._lock:
            self.value -= amount


class _OtelRecorder:
    """One source series in mode ``otel``: every stock instrument it feeds, with pre-built attributes."""

    __slots__ = ("_adds", "_records")

    def __init__(self, records: Sequence[tuple[Any, dict[str, str]]], adds: Sequence[tuple[Any, dict[str, str]]]):
        self._records = tuple(records)  # (Histogram.record, attributes)
        self._adds = tuple(adds)  # (Counter.add or UpDownCounter.add, attributes)

    def observe(self, value: float) -> None:
        """Record the duration in each histogram family and count the event in each counter family."""
        for record, attributes in self._records:
            record(value, attributes)
        for add, attributes in self._adds:
            add(1, attributes)

    def inc(self, amount: float = 1) -> None:
        """Counter.add in each family."""
        for add, attributes in self._adds:
            add(amount, attributes)

    def dec(self, amount: float = 1) -> None:
        """UpDownCounter.add of a negative amount (gauges only)."""
        for add, attributes in self._adds:
            add(-amount, attributes)


# Keys holding a value past OPEN_LABEL_LIMIT (recorded as "other") are remembered too, up to this many
# and this short, so that a busy "other" costs a dict lookup, not a bind, and memory stays bounded.
_OTHER_KEYS_REMEMBERED = 4096
_OTHER_KEY_CHARS = 512


class _Recorders(dict[tuple[str, ...], Any]):
    """Recorders by label values (in the source's label order); a series is bound on first use."""

    def __init__(self, bind: Callable[[tuple[str, ...]], tuple[Any, bool]]) -> None:
        super().__init__()
        self._bind = bind
        self._others = 0

    def __missing__(self, key: tuple[str, ...]) -> Any:
        recorder, exact = self._bind(key)
        if exact:
            self[key] = recorder
        elif self._others < _OTHER_KEYS_REMEMBERED and sum(map(len, key)) <= _OTHER_KEY_CHARS:
            self._others += 1
            self[key] = recorder
        return recorder


# One exported series fed by a source series: (index of the family, its exported series).
_Target = tuple[int, Key]


class Instrumentation:
    """MeterProvider + Prometheus reader + the contract's families, with recorders per source.

    ``thread_safe=False`` drops the locks of mode ``fast``: right for a single event-loop
    thread (the reference service), wrong when several threads record. ``policy`` is the
    value of SARK's policy_name label (the service passes its decision path).
    """

    def __init__(
        self,
        mode: str = "fast",
        *,
        registry: Any = None,
        process_metrics: bool = True,
        service_name: str = "sark",
        thread_safe: bool = True,
        policy: str = policy_name(c.DEMO_DEFAULT_DECISION),
    ) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
        from opentelemetry.sdk.resources import Resource
        from prometheus_client import CollectorRegistry, ProcessCollector

        if mode not in MODES:
            raise ValueError(f"unknown instrumentation mode {mode!r} (expected one of {', '.join(MODES)})")
        self.mode = mode
        self.thread_safe = thread_safe
        self.families = families(policy)
        # The series exported at 0 depend only on the families: projected once, not on every scrape.
        self._zero_keys = [f.zero_keys() for f in self.families]
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._start_ns = time.time_ns()
        # Per source: the families' parts it feeds, its bound series, and (fast) what export reads.
        self._parts = {s.name: [(i, p) for i, f in enumerate(self.families) for p in f.parts if p.source is s]
                       for s in SOURCES}  # fmt: skip
        self._series: dict[str, dict[tuple[str, ...], Any]] = {s.name: {} for s in SOURCES}
        self._exports: dict[str, list[tuple[Any, list[_Target]]]] = {s.name: [] for s in SOURCES}
        self._admitted: dict[tuple[str, str], set[str]] = {}
        self._rollout: dict[str, float] = {}
        self._otel: dict[str, Any] = {}

        self._reader = _make_reader(self.registry, self._fast_metrics)
        views = [
            View(instrument_name=_otel_name(f.name), aggregation=ExplicitBucketHistogramAggregation(c.LATENCY_BUCKETS))
            for f in self.families
            if f.kind == HISTOGRAM
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

        # Recorders, keyed by label values in the order of each source's labels (metric_families).
        self.authz = self._recorders(AUTHZ)  # (implementation, decision, cache, action, server)
        self.opa = self._recorders(OPA)  # (implementation, result, action)
        self.cache = self._recorders(CACHE)  # (implementation, operation, result, action)
        self.flag = self._recorders(FLAGS)  # (feature, implementation)
        self.requests = self._recorders(REQUESTS)  # (status, user, tool) of POST /api/v1/gateway/authorize
        self.in_flight = self._recorders(IN_FLIGHT)[()]  # inc() when a request starts, dec() when it ends
        self._opa_errors = self._recorders(OPA_ERRORS)
        self._fallbacks = self._recorders(FALLBACKS)
        for feature in c.FEATURE_FLAGS:
            self.set_rollout(feature, 0.0)

    # -- instruments ---------------------------------------------------------------------------

    def _create_instruments(self) -> None:
        """Mode ``otel``: a stock instrument per family, counters exported from 0; every mode: the rollout gauge."""
        from opentelemetry.metrics import CallbackOptions, Observation

        if self.mode == "otel":
            meter = self._meter
            for family in self.families:
                name = _otel_name(family.name)
                if family.kind == HISTOGRAM:
                    self._otel[family.name] = meter.create_histogram(name, unit="s", description=family.description)
                    continue
                make = meter.create_counter if family.kind == COUNTER else meter.create_up_down_counter
                instrument = self._otel[family.name] = make(name, description=family.description)
                for key in family.zero_keys():  # rate() needs a first sample, and "no errors yet" is a 0
                    instrument.add(0, dict(key))

        def rollout(options: CallbackOptions) -> Iterable[Any]:
            for feature, pct in list(self._rollout.items()):
                yield Observation(pct, {c.LABEL_FEATURE: feature})

        # The gauge is cheap (set only by the admin API), so every mode uses the async instrument.
        if self.mode != "off":
            self._meter.create_observable_gauge(
                _otel_name(c.FLAG_ROLLOUT), callbacks=[rollout], description=_FLAG_ROLLOUT_HELP
            )

    def _recorders(self, source: Source) -> _Recorders:
        return _Recorders(lambda key: self._bind(source, key))

    def _bind(self, source: Source, key: tuple[str, ...]) -> tuple[Any, bool]:
        """The recorder of a source series (made on first use); whether every label value was admitted."""
        if len(key) != len(source.labels):
            raise KeyError(f"{source.name} is recorded by ({', '.join(source.labels)}), not {key!r}")
        with self._lock:
            bounded, exact = self._bound(source, key)
            series = self._series[source.name]
            recorder = series.get(bounded)
            if recorder is None:
                recorder = series[bounded] = self._make_recorder(source, bounded)
            return recorder, exact

    def _bound(self, source: Source, key: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """The key with each open label's value kept if among its first OPEN_LABEL_LIMIT values, else "other"."""
        if not source.open_labels:
            return key, True
        exact = True
        values = list(key)
        for i, label in enumerate(source.labels):
            if label not in source.open_labels:
                continue
            admitted = self._admitted.setdefault((source.name, label), set())
            if values[i] not in admitted:
                if len(admitted) < c.OPEN_LABEL_LIMIT:
                    admitted.add(values[i])
                else:
                    values[i], exact = c.OTHER_LABEL_VALUE, False
        return tuple(values), exact

    def _make_recorder(self, source: Source, key: tuple[str, ...]) -> Any:
        if self.mode == "off":
            return _NOOP
        labels = dict(zip(source.labels, key, strict=True))
        targets = [(i, k) for i, part in self._parts[source.name] if (k := part.project(labels)) is not None]
        if self.mode == "otel":
            records, adds = [], []
            for i, k in targets:
                family = self.families[i]
                instrument = self._otel[family.name]
                if family.kind == HISTOGRAM:
                    records.append((instrument.record, dict(k)))
                else:
                    adds.append((instrument.add, dict(k)))
            return _OtelRecorder(records, adds)
        recorder: Any = (
            _FastHistogram(c.LATENCY_BUCKETS, self.thread_safe) if source.kind == HISTOGRAM
            else _FastValue(self.thread_safe)
        )  # fmt: skip
        self._exports[source.name].append((recorder, targets))
        return recorder

    # -- recording (besides the recorder dicts) ------------------------------------------------

    def opa_error(self, implementation: str, error_type: str, amount: int = 1) -> None:
        """Count a failed policy evaluation."""
        if amount:
            self._opa_errors[(implementation, error_type)].inc(amount)

    def fallback(self, feature: str, error_type: str, amount: int = 1) -> None:
        """Count a request that fell back from Rust to Python."""
        if amount:
            self._fallbacks[(feature, error_type)].inc(amount)

    def set_rollout(self, feature: str, percentage: float) -> None:
        """Set feature_flag_rollout_percentage{feature}."""
        self._rollout[feature] = float(percentage)

    # -- export --------------------------------------------------------------------------------

    def _collect_fast(self) -> list[dict[Key, Any]]:
        """Per family: exported series -> [bucket counts, sum, min, max] (histograms) or a number."""
        empty = len(c.LATENCY_BUCKETS) + 1
        out: list[dict[Key, Any]] = [
            {key: ([[0] * empty, 0.0, float("inf"), float("-inf")] if f.kind == HISTOGRAM else 0.0)
             for key in zero_keys}
            for f, zero_keys in zip(self.families, self._zero_keys, strict=True)
        ]  # fmt: skip
        kinds = [f.kind for f in self.families]
        for source in SOURCES:
            for recorder, targets in list(self._exports[source.name]):
                if source.kind == HISTOGRAM:
                    counts, total, low, high = recorder.snapshot()
                    events = sum(counts)
                    for i, key in targets:
                        if kinds[i] != HISTOGRAM:
                            out[i][key] = out[i].get(key, 0.0) + events
                        elif (into := out[i].get(key)) is None:
                            out[i][key] = [counts, total, low, high]
                        else:
                            into[0] = [a + b for a, b in zip(into[0], counts, strict=True)]
                            into[1] += total
                            into[2], into[3] = min(into[2], low), max(into[3], high)
                else:
                    for i, key in targets:
                        out[i][key] = out[i].get(key, 0.0) + recorder.value
        return out

    def _fast_metrics(self) -> list[Any]:
        """Every family as an OpenTelemetry metric (mode ``fast``): histograms, monotonic sums, gauges."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Histogram,
            HistogramDataPoint,
            Metric,
            NumberDataPoint,
            Sum,
        )

        if self.mode != "fast":
            return []
        start, now = self._start_ns, time.time_ns()
        cumulative = AggregationTemporality.CUMULATIVE
        metrics = []
        for family, series in zip(self.families, self._collect_fast(), strict=True):
            data: Any
            if family.kind == HISTOGRAM:
                points = [
                    HistogramDataPoint(
                        attributes=dict(key), start_time_unix_nano=start, time_unix_nano=now, count=sum(counts),
                        sum=total, bucket_counts=counts, explicit_bounds=c.LATENCY_BUCKETS, min=low, max=high,
                    )
                    for key, (counts, total, low, high) in series.items()
                ]  # fmt: skip
                data = Histogram(data_points=points, aggregation_temporality=cumulative)
            else:
                numbers = [NumberDataPoint(dict(key), start, now, value) for key, value in series.items()]
                # A non-monotonic cumulative sum is what the exporter turns into a gauge (as an UpDownCounter's).
                data = Sum(numbers, cumulative, is_monotonic=family.kind == COUNTER)
            unit = "s" if family.kind == HISTOGRAM else ""
            metrics.append(Metric(name=_otel_name(family.name), description=family.description, unit=unit, data=data))
        return metrics

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric (what GET /metrics serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Stop the MeterProvider and unregister the reader from the registry."""
        self.meter_provider.shutdown()


def _make_reader(registry: Any, extra: Any) -> Any:
    """A PrometheusMetricReader that also exports the in-process families of mode ``fast``.

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
