"""The exported metric families and how each is derived from what the gateway records.

The gateway records a few *sources*, each once per event: an authorization, a policy evaluation, a
cache operation, a failed evaluation, a flag assignment, a fallback, an HTTP request, a request in
flight. Every exported family (sloguard's own contract and SARK's gateway and policy families) is a
*projection* of one or more sources: a filter on the source's labels and, per exported label, the
source label it copies (its value possibly mapped) or a constant. So one recording feeds every family
that counts the same event, and fast and otel modes export the same projections (docs/architecture.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sloguard import conventions as c

HISTOGRAM, COUNTER, GAUGE = "histogram", "counter", "gauge"

# The results each cache operation can have (a set never "hits").
CACHE_RESULTS_BY_OP = {"get": ("hit", "miss", "error"), "set": ("ok", "error"), "delete": ("ok", "error")}
DECIDED = frozenset(("allow", "deny"))  # decisions the policy made (not a fail-closed error)

Key = tuple[tuple[str, str], ...]  # an exported series: (label, value) pairs sorted by label


@dataclass(frozen=True)
class Source:
    """What is recorded: one series per combination of ``labels`` (values in this order)."""

    name: str
    kind: str  # HISTOGRAM (durations; each also counts its event), COUNTER or GAUGE (up and down)
    labels: tuple[str, ...]
    open_labels: frozenset[str] = frozenset()  # values taken from requests: bounded (OPEN_LABEL_LIMIT)
    # Known label values (partial: open labels may be absent) whose series are exported at 0 from the start.
    zeros: tuple[Mapping[str, str], ...] = ()


@dataclass(frozen=True)
class Label:
    """One exported label: a copy of a source label (its value mapped by ``derive``) or a constant."""

    name: str
    source: str | None = None  # the source label; None: ``constant``
    constant: str = ""
    derive: Callable[[str], str] | None = None

    def value(self, labels: Mapping[str, str]) -> str | None:
        """The exported value, or None when the source label is not known (a partial zero key)."""
        if self.source is None:
            return self.constant
        raw = labels.get(self.source)
        if raw is None:
            return None
        return self.derive(raw) if self.derive else raw


def copy(name: str, source: str | None = None, derive: Callable[[str], str] | None = None) -> Label:
    """An exported label copying the source label ``source`` (default: the same name)."""
    return Label(name, source or name, derive=derive)


def const(name: str, value: str) -> Label:
    """An exported label with the same value on every series."""
    return Label(name, None, value)


@dataclass(frozen=True)
class Part:
    """The series of ``source`` that pass ``where``, relabelled by ``labels``."""

    source: Source
    labels: tuple[Label, ...]
    where: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def project(self, labels: Mapping[str, str]) -> Key | None:
        """The exported series a source series feeds, or None (filtered out, or not known yet)."""
        for name, allowed in self.where.items():
            value = labels.get(name)
            if value is None or value not in allowed:
                return None
        out = []
        for label in self.labels:
            value = label.value(labels)
            if value is None:
                return None
            out.append((label.name, value))
        return tuple(sorted(out))


@dataclass(frozen=True)
class Family:
    """One exported Prometheus family: its name as exposed, type, help text and parts."""

    name: str
    kind: str
    description: str
    parts: tuple[Part, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The exported label names, sorted."""
        return tuple(sorted(label.name for label in self.parts[0].labels))

    def zero_keys(self) -> list[Key]:
        """The series exported at 0 before anything is recorded (every known combination)."""
        keys = {key for part in self.parts for zero in part.source.zeros if (key := part.project(zero)) is not None}
        return sorted(keys)


def _product(**domains: Iterable[str]) -> tuple[dict[str, str], ...]:
    names = list(domains)
    return tuple(dict(zip(names, values, strict=True)) for values in itertools.product(*domains.values()))


_IMPL, _ACTION = c.LABEL_IMPLEMENTATION, c.LABEL_ACTION
AUTHZ = Source(
    "authz", HISTOGRAM, (_IMPL, c.LABEL_DECISION, c.LABEL_CACHE, _ACTION, c.LABEL_SERVER),
    frozenset((_ACTION, c.LABEL_SERVER)),
    _product(implementation=c.IMPLEMENTATIONS, decision=c.DECISIONS, cache=c.CACHE_STATES, action=c.GATEWAY_ACTIONS),
)  # fmt: skip
OPA = Source(
    "opa", HISTOGRAM, (_IMPL, c.LABEL_RESULT, _ACTION), frozenset((_ACTION,)),
    _product(implementation=c.IMPLEMENTATIONS, result=c.DECISIONS, action=c.GATEWAY_ACTIONS),
)  # fmt: skip
CACHE = Source(
    "cache", HISTOGRAM, (_IMPL, c.LABEL_OPERATION, c.LABEL_RESULT, _ACTION), frozenset((_ACTION,)),
    tuple(
        {_IMPL: impl, c.LABEL_OPERATION: op, c.LABEL_RESULT: result, _ACTION: action}
        for impl in c.IMPLEMENTATIONS for op, results in CACHE_RESULTS_BY_OP.items() for result in results
        for action in c.GATEWAY_ACTIONS
    ),
)  # fmt: skip
OPA_ERRORS = Source("opa_errors", COUNTER, (_IMPL, c.LABEL_ERROR_TYPE),
                    zeros=_product(implementation=c.IMPLEMENTATIONS, error_type=c.ERROR_TYPES))  # fmt: skip
FLAGS = Source("flags", COUNTER, (c.LABEL_FEATURE, _IMPL),
               zeros=_product(feature=c.FEATURE_FLAGS, implementation=c.IMPLEMENTATIONS))  # fmt: skip
FALLBACKS = Source("fallbacks", COUNTER, (c.LABEL_FEATURE, c.LABEL_ERROR_TYPE),
                   zeros=_product(feature=c.FEATURE_FLAGS, error_type=c.ERROR_TYPES))  # fmt: skip
REQUESTS = Source("requests", COUNTER, (c.LABEL_STATUS, c.LABEL_USER, c.LABEL_TOOL),
                  frozenset((c.LABEL_USER, c.LABEL_TOOL)))  # fmt: skip
IN_FLIGHT = Source("in_flight", GAUGE, (), zeros=({},))
SOURCES = (AUTHZ, OPA, CACHE, OPA_ERRORS, FLAGS, FALLBACKS, REQUESTS, IN_FLIGHT)


def policy_name(decision_path: str) -> str:
    """SARK's policy_name label for a decision path: the path without OPA's leading ``data.``."""
    return decision_path.removeprefix("data.").replace("/", ".") or decision_path


def resource_type(action: str) -> str:
    """SARK's resource_type of an action: ``gateway:tool:invoke`` acts on a tool, ``gateway:server:list`` a server."""
    parts = action.split(":")
    return parts[1] if len(parts) == 3 and parts[1] else c.OTHER_LABEL_VALUE


def _gateway_decision(decision: str) -> str:
    # SARK's gateway answers allow or deny; a policy that could not decide denied (fail closed).
    return "allow" if decision == "allow" else "deny"


def _sark_error_type(error_type: str) -> str:
    return c.SARK_ERROR_OPA_CONNECTION if error_type == c.ERROR_UNAVAILABLE else error_type


def _cache_name(implementation: str) -> str:
    return c.CACHE_NAMES.get(implementation, implementation)


def families(policy: str = policy_name(c.DEMO_DEFAULT_DECISION)) -> tuple[Family, ...]:
    """Every exported family (the metric contract); ``policy`` is the policy_name label's value."""
    impl, action, decision = copy(_IMPL), copy(_ACTION), copy(c.LABEL_DECISION)
    operation, result = copy(c.LABEL_OPERATION), copy(c.LABEL_RESULT)
    get_hit = {c.LABEL_OPERATION: frozenset(("get",)), c.LABEL_RESULT: frozenset(("hit",))}
    get_miss = {c.LABEL_OPERATION: frozenset(("get",)), c.LABEL_RESULT: frozenset(("miss",))}
    decided = {c.LABEL_DECISION: DECIDED}
    authorize = (const(c.LABEL_METHOD, "POST"), const(c.LABEL_ENDPOINT, c.AUTHORIZE_PATH))
    policy_name_label = const(c.LABEL_POLICY_NAME, policy)
    sensitivity = const(c.LABEL_SENSITIVITY, c.SENSITIVITY_UNKNOWN)
    # fmt: off
    return (
        # sloguard's contract: SARK's rollout families (src/sark/api/metrics/rollout_metrics.py) and sark_authz_*.
        Family(c.AUTHZ_DURATION, HISTOGRAM, "End-to-end authorization decision latency in the gateway.",
               (Part(AUTHZ, (impl, decision, copy(c.LABEL_CACHE))),)),
        Family(c.AUTHZ_REQUESTS, COUNTER, "Authorization decisions by implementation and outcome.",
               (Part(AUTHZ, (impl, decision)),)),
        Family(c.OPA_DURATION, HISTOGRAM, "Policy evaluation latency.",
               (Part(OPA, (impl,)),)),
        Family(c.OPA_EVALUATIONS, COUNTER, "Policy evaluations.",
               (Part(OPA, (impl, result)),)),
        Family(c.OPA_ERRORS, COUNTER, "Policy evaluations that failed.",
               (Part(OPA_ERRORS, (impl, copy(c.LABEL_ERROR_TYPE))),)),
        Family(c.CACHE_DURATION, HISTOGRAM, "Decision-cache operation latency.",
               (Part(CACHE, (impl, operation)),)),
        Family(c.CACHE_OPERATIONS, COUNTER, "Decision-cache operations by result.",
               (Part(CACHE, (impl, operation, result)),)),
        Family(c.FLAG_ASSIGNMENTS, COUNTER, "Feature-flag assignments of requests to an implementation.",
               (Part(FLAGS, (copy(c.LABEL_FEATURE), impl)),)),
        Family(c.FALLBACKS, COUNTER, "Requests that fell back from the Rust implementation to Python.",
               (Part(FALLBACKS, (copy(c.LABEL_FEATURE), copy(c.LABEL_ERROR_TYPE))),)),

        # SARK's gateway families (gateway_metrics.py, monitoring/gateway/metrics.py), with SARK's help texts.
        Family(c.SARK_GATEWAY_AUTHZ_REQUESTS, COUNTER, "Total Gateway authorization requests",
               (Part(AUTHZ, (copy(c.LABEL_DECISION, derive=_gateway_decision), action, copy(c.LABEL_SERVER))),)),
        Family(c.SARK_GATEWAY_AUTHZ_LATENCY, HISTOGRAM, "Gateway authorization latency in seconds",
               (Part(AUTHZ, (action,)),)),
        Family(c.SARK_GATEWAY_CACHE_HITS, COUNTER, "Gateway policy cache hits",
               (Part(CACHE, (), get_hit),)),
        Family(c.SARK_GATEWAY_CACHE_MISSES, COUNTER, "Gateway policy cache misses",
               (Part(CACHE, (), get_miss),)),
        Family(c.SARK_GATEWAY_REQUESTS, COUNTER, "Total Gateway requests",
               (Part(REQUESTS, (*authorize, copy(c.LABEL_STATUS), copy(c.LABEL_USER), copy(c.LABEL_TOOL))),)),
        Family(c.SARK_GATEWAY_REQUEST_DURATION, HISTOGRAM, "Gateway request duration in seconds",
               (Part(AUTHZ, authorize),)),
        Family(c.SARK_GATEWAY_IN_FLIGHT, GAUGE, "Current number of Gateway requests being processed",
               (Part(IN_FLIGHT, ()),)),
        Family(c.SARK_GATEWAY_CACHE_OPERATIONS, COUNTER, "Cache operations",
               (Part(CACHE, (operation, copy(c.LABEL_CACHE_NAME, _IMPL, _cache_name), result)),)),

        # SARK's policy families (monitoring/gateway/policy_metrics.py, services/policy/metrics.py). Where SARK
        # defines one name twice with different labels, the family carries the union of both label sets.
        Family(c.SARK_POLICY_DECISIONS, COUNTER, "Total policy decisions",
               (Part(AUTHZ, (policy_name_label, decision, copy(c.LABEL_RESOURCE_TYPE, _ACTION, resource_type)),
                     decided),)),
        Family(c.SARK_POLICY_DURATION, HISTOGRAM, "Policy evaluation latency in seconds", (
               Part(OPA, (policy_name_label, action, sensitivity, const(c.LABEL_CACHE_STATUS, "miss")),
                    {c.LABEL_RESULT: DECIDED}),
               Part(CACHE, (policy_name_label, action, sensitivity, const(c.LABEL_CACHE_STATUS, "hit")), get_hit))),
        Family(c.SARK_POLICY_CACHE_HITS, COUNTER, "Policy cache hits",
               (Part(CACHE, (policy_name_label, sensitivity), get_hit),)),
        Family(c.SARK_POLICY_CACHE_MISSES, COUNTER, "Policy cache misses",
               (Part(CACHE, (policy_name_label, sensitivity), get_miss),)),
        Family(c.SARK_POLICY_EVALUATIONS, COUNTER, "Total number of policy evaluations",
               (Part(AUTHZ, (action, sensitivity, copy(c.LABEL_RESULT, c.LABEL_DECISION)), decided),)),
        Family(c.SARK_POLICY_ERRORS, COUNTER, "Total number of policy evaluation errors",
               (Part(OPA_ERRORS, (copy(c.LABEL_ERROR_TYPE, derive=_sark_error_type),)),)),
    )
    # fmt: on


__all__ = ["COUNTER", "GAUGE", "HISTOGRAM", "SOURCES", "Family", "Label", "Part", "Source", "families",
           "policy_name", "resource_type"]  # fmt: skip
