"""One home for names: metric names, label keys, bucket boundaries, rule names and exit codes.

Nothing else in sloguard spells these; import them from here.
"""

from __future__ import annotations

from enum import IntEnum

API_VERSION = "sloguard/v1"
SPEC_KIND = "SLOSet"
REPORT_KIND = "CheckReport"


class ExitCode(IntEnum):
    """Exit codes of every sloguard command (the CLI contract)."""

    PASS = 0
    FAILED = 1  # an objective failed (no_data counts as failed under noData: fail)
    ERROR = 2  # could not evaluate: bad spec, backend unreachable, bad arguments


# Ctrl-C: the shell's code for SIGINT (128 + 2); partial results were written. Not an ExitCode member, since
# the CLI contract's verdicts are 0, 1 and 2.
EXIT_INTERRUPTED = 130


# Metric contract (docs/architecture.md): Prometheus names as exposed by the reference service.
AUTHZ_DURATION = "sark_authz_duration_seconds"
AUTHZ_REQUESTS = "sark_authz_requests_total"
OPA_DURATION = "opa_evaluation_duration_seconds"
OPA_EVALUATIONS = "opa_evaluation_total"
OPA_ERRORS = "opa_evaluation_errors_total"
CACHE_DURATION = "cache_operation_duration_seconds"
CACHE_OPERATIONS = "cache_operations_total"
FLAG_ASSIGNMENTS = "feature_flag_assignments_total"
FLAG_ROLLOUT = "feature_flag_rollout_percentage"
FALLBACKS = "implementation_fallback_total"
PROCESS_RSS = "process_resident_memory_bytes"
# SARK's gateway and policy families (src/sark/api/metrics/gateway_metrics.py, src/sark/monitoring/gateway/,
# src/sark/services/policy/metrics.py), so SARK's own dashboards and rules find the reference service.
SARK_GATEWAY_AUTHZ_REQUESTS = "sark_gateway_authz_requests_total"
SARK_GATEWAY_AUTHZ_LATENCY = "sark_gateway_authz_latency_seconds"
SARK_GATEWAY_CACHE_HITS = "sark_gateway_cache_hits_total"
SARK_GATEWAY_CACHE_MISSES = "sark_gateway_cache_misses_total"
SARK_GATEWAY_REQUESTS = "sark_gateway_requests_total"
SARK_GATEWAY_REQUEST_DURATION = "sark_gateway_request_duration_seconds"
SARK_GATEWAY_IN_FLIGHT = "sark_gateway_requests_in_flight"
SARK_GATEWAY_CACHE_OPERATIONS = "sark_gateway_cache_operations_total"
SARK_POLICY_DECISIONS = "sark_policy_decisions_total"
SARK_POLICY_DURATION = "sark_policy_evaluation_duration_seconds"
SARK_POLICY_CACHE_HITS = "sark_policy_cache_hits_total"
SARK_POLICY_CACHE_MISSES = "sark_policy_cache_misses_total"
SARK_POLICY_EVALUATIONS = "sark_policy_evaluations_total"
SARK_POLICY_ERRORS = "sark_policy_evaluation_errors_total"
# Their label keys and the values the reference service gives them.
LABEL_ACTION = "action"
LABEL_SERVER = "server"
LABEL_METHOD = "method"
LABEL_ENDPOINT = "endpoint"
LABEL_STATUS = "status"
LABEL_USER = "user"
LABEL_TOOL = "tool"
LABEL_CACHE_NAME = "cache_name"
LABEL_POLICY_NAME = "policy_name"
LABEL_RESOURCE_TYPE = "resource_type"
LABEL_SENSITIVITY = "sensitivity_level"
LABEL_CACHE_STATUS = "cache_status"
STATUS_SUCCESS = "success"  # the request got a decision (HTTP 200, allow or deny)
STATUS_ERROR = "error"  # the request was refused (401, 422) or failed
USER_ANONYMOUS = "anonymous"  # SARK's user label when the caller is not known
SENSITIVITY_UNKNOWN = "unknown"  # SARK's sensitivity_level when the tool's classification is not known
SARK_ERROR_OPA_CONNECTION = "opa_connection"  # SARK's error_type for an unreachable policy server
CACHE_NAMES = {"rust": "cachebox", "python": "redis"}  # cache_name by implementation
# Labels whose values come from requests (server, user, tool, action) keep the first OPEN_LABEL_LIMIT
# distinct values each; later ones are exported as OTHER_LABEL_VALUE, so a caller cannot grow the series.
OPEN_LABEL_LIMIT = 32
OTHER_LABEL_VALUE = "other"

# Label keys and their values.
LABEL_IMPLEMENTATION = "implementation"
LABEL_DECISION = "decision"
LABEL_CACHE = "cache"
LABEL_OPERATION = "operation"
LABEL_RESULT = "result"
LABEL_ERROR_TYPE = "error_type"
LABEL_FEATURE = "feature"

IMPL_RUST = "rust"
IMPL_PYTHON = "python"
IMPLEMENTATIONS = (IMPL_RUST, IMPL_PYTHON)
DECISIONS = ("allow", "deny", "error")
CACHE_STATES = ("hit", "miss", "bypass")
CACHE_OPS = ("get", "set", "delete")
CACHE_RESULTS = ("hit", "miss", "ok", "error")
FLAG_RUST_OPA = "rust_opa"
FLAG_RUST_CACHE = "rust_cache"
FEATURE_FLAGS = (FLAG_RUST_OPA, FLAG_RUST_CACHE)

# Histogram boundaries in seconds, 10 µs to 10 s. The OTel defaults are meant for
# milliseconds and would put a 40 µs decision in the 5 s bucket. Every latency
# threshold in sloguard.yaml (0.0005, 0.005) is an exact boundary, so threshold
# SLIs read one bucket and need no interpolation. Between 0.1 and 10 ms, where both
# paths' decisions fall, no bucket is more than 1.33x wide: histogram_quantile
# interpolates inside a bucket, and in the 2.5x wide 1-2.5 ms bucket of an earlier
# grid a Rust 10 % slower than Python at p95 read as 1.01x and the rollout's
# latency test never saw it (tests/benchmarks/calibrate_rollout.py, docs/rollout.md).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.000075,
    0.0001, 0.000125, 0.00015, 0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.0006, 0.00075,
    0.001, 0.00125, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006, 0.0075,
    0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip

# Memory growth with fewer samples than this in the window is no_data.
MIN_GROWTH_SAMPLES = 10

# The level of the confidence intervals `sloguard check` reports (sloguard/intervals.py).
CONFIDENCE_LEVEL = 0.95

# Recording-rule names (Sloth-compatible, so Sloth's Grafana dashboards keep working).
RULE_SLI_ERROR = "slo:sli_error:ratio_rate{window}"
RULE_OBJECTIVE = "slo:objective:ratio"
RULE_ERROR_BUDGET = "slo:error_budget:ratio"
RULE_CURRENT_BURN = "slo:current_burn_rate:ratio"
RULE_PERIOD_BUDGET_REMAINING = "slo:period_error_budget_remaining:ratio"

# Environment variables the Prometheus client reads (credentials never appear in output).
ENV_PROM_USER = "SLOGUARD_PROMETHEUS_USER"
ENV_PROM_PASSWORD = "SLOGUARD_PROMETHEUS_PASSWORD"
ENV_PROM_TOKEN = "SLOGUARD_PROMETHEUS_TOKEN"
ENV_PROM_CA = "SLOGUARD_PROMETHEUS_CA"
ENV_PROM_HEADERS = "SLOGUARD_PROMETHEUS_HEADERS"  # "X-Scope-OrgID=tenant,Other=v"


# Binaries of the embedded stack and the Debian packages that provide them.
BINARIES = {
    "redis": ("redis-server", "redis-server"),
    "prometheus": ("prometheus", "prometheus"),
    "promtool": ("promtool", "prometheus"),
    "alertmanager": ("prometheus-alertmanager", "prometheus-alertmanager"),
    "amtool": ("amtool", "prometheus-alertmanager"),
}

# The scrape job of the reference service; sloguard.yaml's selector is {job: sark}.
SCRAPE_JOB = "sark"

# ---- reference SARK service (sloguard/demo) ----
# Environment variables of the reference service and its token command.
ENV_RUST_ENABLED = "RUST_ENABLED"  # "false" routes every user to the Python path (SARK's kill switch)
ENV_DEMO_SECRET = "SLOGUARD_DEMO_SECRET"  # HS256 key of bearer tokens
ENV_DEMO_ADMIN_TOKEN = "SLOGUARD_DEMO_ADMIN_TOKEN"  # bearer token of the /admin API
# Development defaults, documented as insecure: the demo listens on loopback only.
DEMO_DEFAULT_SECRET = "sloguard-demo-insecure-dev-secret-change-me"
DEMO_DEFAULT_ADMIN_TOKEN = "sloguard-demo-admin"
DEMO_DEFAULT_DECISION = "data.sark.gateway.decision"
DEMO_DEFAULT_PORT = 8000
DEMO_DEFAULT_POLICY_PORT = 8181  # OPA's port
DEMO_DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEMO_CACHE_PREFIX = "sark:authz:"
HEADER_IMPLEMENTATION = "X-Sark-Implementation"
AUTHORIZE_PATH = "/api/v1/gateway/authorize"
GATEWAY_ACTIONS = (
    "gateway:tool:invoke",
    "gateway:server:list",
    "gateway:tool:discover",
    "gateway:server:info",
)
# opa_evaluation_errors_total{error_type} and implementation_fallback_total{error_type} values.
ERROR_POLICY = "policy_error"  # the policy raised at evaluation time
ERROR_UNDEFINED = "undefined"  # the decision document is undefined for this input
ERROR_INVALID = "invalid_decision"  # the decision is not an object with a boolean allow
ERROR_UNAVAILABLE = "unavailable"  # the policy server or cache could not be reached
ERROR_TIMEOUT = "timeout"
ERROR_INJECTED = "injected"  # fault injection
ERROR_INTERNAL = "internal"  # any other failure of an implementation
ERROR_TYPES = (
    ERROR_POLICY, ERROR_UNDEFINED, ERROR_INVALID, ERROR_UNAVAILABLE, ERROR_TIMEOUT, ERROR_INJECTED, ERROR_INTERNAL,
)  # fmt: skip

# ---- load generation (sloguard/load, loadgen/) ----
LOAD_RUN_KIND = "LoadRun"  # run.json of `sloguard load run`
SOAK_KIND = "SoakReport"  # soak.json of `sloguard soak`
STRESS_KIND = "StressReport"  # stress.json of `sloguard stress`
ENV_LOADGEN_DIR = "SLOGUARD_LOADGEN_DIR"  # where locustfile.py and profiles.yaml live
ENV_LOAD_SCALE = "SLOGUARD_LOAD_SCALE"  # default --scale of load, soak and stress
HEALTH_PATH = "/health"  # the reference service's liveness endpoint
ADMIN_ROLLOUT_PATH = "/admin/rollout"
ADMIN_FAULTS_PATH = "/admin/faults"
# Memory growth bound of `sloguard soak`, as sloguard.yaml's memory-growth objective (1 MiB/hour).
SOAK_GROWTH_BOUND = 1048576

# ---- rules and dashboards (sloguard/rules.py, sloguard/dashboards.py) ----
# More Sloth-compatible rule names (Sloth's Grafana dashboards read these).
RULE_TIME_PERIOD = "slo:time_period:days"
RULE_PERIOD_BURN = "slo:period_burn_rate:ratio"
RULE_SLO_INFO = "sloth_slo_info"
# sloguard's own rules: the value of a threshold SLI and the event rate behind an SLI, over {window}.
RULE_SLI_VALUE = "sloguard:sli_value:{window}"
RULE_SLI_EVENTS = "sloguard:sli_events:rate{window}"
# Labels on every generated rule (Sloth's names, so Sloth dashboards and routes keep working).
LABEL_SLO_ID = "sloth_id"  # <service>-<objective>
LABEL_SLO_SERVICE = "sloth_service"
LABEL_SLO_NAME = "sloth_slo"
LABEL_SLO_WINDOW = "sloth_window"
LABEL_SLO_OBJECTIVE = "sloth_objective"  # on sloth_slo_info: the target in percent
# Also on sloth_slo_info, as Sloth writes them: how, from which spec and by which generator version.
LABEL_SLO_MODE = "sloth_mode"
LABEL_SLO_SPEC = "sloth_spec"
LABEL_SLO_VERSION = "sloth_version"
SLOTH_MODE = "cli-gen-prom"  # Sloth's mode for rules generated by a command line for Prometheus
# User labels may not start with this: Sloth's and sloguard's own labels do.
RESERVED_LABEL_PREFIX = "sloth_"
LABEL_SEVERITY = "severity"
SEVERITY_PAGE = "page"
SEVERITY_TICKET = "ticket"
# Every alert says page or ticket in Sloth's own label. `severity`, what most Alertmanager configs route
# on (SARK's sends severity="critical" to PagerDuty), is the spec's to set (spec.alerting.pageAlert.labels).
LABEL_SLOTH_SEVERITY = "sloth_severity"
LABEL_INSTANCE = "instance"
LABEL_ALERTNAME = "alertname"
# Labels sloguard sets on alerts, which spec.alerting may not: alertname and the sloth_* labels.
GENERATED_ALERT_LABELS = (
    LABEL_ALERTNAME, LABEL_SLO_ID, LABEL_SLO_SERVICE, LABEL_SLO_NAME, LABEL_SLO_WINDOW, LABEL_SLO_OBJECTIVE,
    LABEL_SLOTH_SEVERITY,
)  # fmt: skip
# Service alerts a spec may ask for in spec.alerting.extraAlerts (none by default: they are SARK's).
EXTRA_ALERT_FALLBACKS = "rustFallbacks"  # Rust-to-Python fallbacks (implementation_fallback_total)
EXTRA_ALERT_TARGET_DOWN = "targetDown"  # up == 0 of the spec's selector
EXTRA_ALERT_TARGET_ABSENT = "targetAbsent"  # no up series of the spec's selector at all
EXTRA_ALERTS = (EXTRA_ALERT_FALLBACKS, EXTRA_ALERT_TARGET_DOWN, EXTRA_ALERT_TARGET_ABSENT)
# Labels that tell the service alerts' series apart (fallbacks by feature and error_type, a target by instance).
SERVICE_ALERT_LABELS = (LABEL_FEATURE, LABEL_ERROR_TYPE, LABEL_INSTANCE)
# Built-in burn-rate windows (package data sloguard/data/burn-windows-<name>.yaml).
WINDOWS_KIND = "BurnRateWindows"
DEFAULT_WINDOWS = "google"
GENERATED_HEADER = "generated by sloguard — do not edit"
# Grafana: dashboard uids are stable so links in alert annotations keep working.
DASHBOARD_UID_PREFIX = "sloguard-"

# ---- compare, baselines, performance report (sloguard/compare.py, sloguard/report/html.py) ----
COMPARISON_KIND = "Comparison"  # output of `sloguard compare`
BASELINE_KIND = "Baseline"  # `sloguard baseline save`
CHECK_REPORT_JSON = "sloguard-report.json"  # a run directory's check report (the run's own files: sloguard.runs)
INTERLEAVED_BLOCK_SECONDS = 10.0  # compare's default block for an interleaved pair (calibrate_compare.py)
# compare's spread between processes of one build (sd of a log latency quantile), measured by
# tests/benchmarks/calibrate_compare.py on 24 processes: Rust median 2.45 %, the largest, rounded up.
DEFAULT_PROCESS_NOISE = 0.025

# ---- progressive rollout (sloguard/rollout) ----
ROLLOUT_PLAN_KIND = "RolloutPlan"  # a `sloguard rollout` plan file
ROLLOUT_PLAN_FILE = "rollout.yaml"  # SARK's plan, beside sloguard.yaml
ROLLOUT_FULL_PERCENT = 100.0  # a plan's last step: the Rust path takes all of the traffic
# Defaults of a plan's spec.interval and spec.compare; the calibration in docs/rollout.md is at these settings.
ROLLOUT_DEFAULT_INTERVAL = "1m"
ROLLOUT_DEFAULT_ALPHA = 0.01  # false-rollback rate over every look of a step
ROLLOUT_DEFAULT_ERROR_MARGIN = 0.001  # Rust's error ratio may exceed Python's by 0.1 percentage point
ROLLOUT_DEFAULT_LATENCY_QUANTILE = 0.95
# Rust's quantile may be up to 5 % above Python's: a 10 % slowdown then rolls back (calibration in docs/rollout.md).
ROLLOUT_DEFAULT_LATENCY_MARGIN = 0.05
# The flag setter by default: the reference service's admin API, with the token `sloguard stack up` gives it.
ROLLOUT_DEFAULT_ADMIN_URL = f"http://127.0.0.1:{DEMO_DEFAULT_PORT}"
ROLLOUT_DEFAULT_TOKEN_ENV = ENV_DEMO_ADMIN_TOKEN
# A rollout's own metrics (sloguard/rollout/metrics.py), served by the controller and scraped by the stack.
ROLLOUT_METRIC_PREFIX = "sloguard_rollout_"
ROLLOUT_PERCENT = "sloguard_rollout_percent"  # {rollout, flag}: the percent last applied to each flag
ROLLOUT_STEP = "sloguard_rollout_step"  # {rollout}: the step index (-1 before the first step)
ROLLOUT_STATUS = "sloguard_rollout_status"  # {rollout, status}: 1 for the current status, 0 for the others
ROLLOUT_DECISIONS = "sloguard_rollout_decisions_total"  # {rollout, decision}: decision-log lines by kind
ROLLOUT_STEP_STARTED = "sloguard_rollout_step_started_timestamp_seconds"  # {rollout}: the step's window start
ROLLOUT_STATE_OK = "sloguard_rollout_state_ok"  # 1 when the state directory reads cleanly, 0 when it does not
ROLLOUT_SCRAPE_JOB = "sloguard-rollout"  # the stack's scrape job for a controller's metrics port
LABEL_ROLLOUT = "rollout"
LABEL_FLAG = "flag"  # LABEL_STATUS and LABEL_DECISION name the other two labels
