"""SARK's gateway and policy metric families as the reference service must expose them (issue 12).

Exposed name -> (type, label names) as SARK's source defines them. Where SARK defines one name twice with
different labels (sark_policy_evaluation_duration_seconds, sark_policy_cache_{hits,misses}_total), the union of
both sets, so queries written against either definition find data (docs/architecture.md).
"""

from __future__ import annotations

from sloguard import conventions as c

SARK_FAMILIES = {
    c.SARK_GATEWAY_AUTHZ_REQUESTS: ("counter", {"decision", "action", "server"}),
    c.SARK_GATEWAY_AUTHZ_LATENCY: ("histogram", {"action"}),
    c.SARK_GATEWAY_CACHE_HITS: ("counter", set()),
    c.SARK_GATEWAY_CACHE_MISSES: ("counter", set()),
    c.SARK_GATEWAY_REQUESTS: ("counter", {"method", "endpoint", "status", "user", "tool"}),
    c.SARK_GATEWAY_REQUEST_DURATION: ("histogram", {"method", "endpoint"}),
    c.SARK_GATEWAY_IN_FLIGHT: ("gauge", set()),
    c.SARK_GATEWAY_CACHE_OPERATIONS: ("counter", {"operation", "cache_name", "result"}),
    c.SARK_POLICY_DECISIONS: ("counter", {"policy_name", "decision", "resource_type"}),
    c.SARK_POLICY_DURATION: ("histogram", {"policy_name", "action", "sensitivity_level", "cache_status"}),
    c.SARK_POLICY_CACHE_HITS: ("counter", {"policy_name", "sensitivity_level"}),
    c.SARK_POLICY_CACHE_MISSES: ("counter", {"policy_name", "sensitivity_level"}),
    c.SARK_POLICY_EVALUATIONS: ("counter", {"action", "sensitivity_level", "result"}),
    c.SARK_POLICY_ERRORS: ("counter", {"error_type"}),
}
