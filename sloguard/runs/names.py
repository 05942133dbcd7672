"""The names of a run directory's files and of its CSV columns; nothing else in sloguard spells them."""

from __future__ import annotations

# ---- files --------------------------------------------------------------------------------------
RUN_JSON = "run.json"  # the LoadRun document of `sloguard load run` and of each side of `load ab`
LATENCIES_CSV = "latencies.csv"  # raw per-request latencies of the steady-state window
RAW_LATENCIES_CSV = "latencies.raw.csv"  # Locust's whole run, before the window is cut out of it
TIMELINE_CSV = "timeline.csv"  # per-second completions and errors of an open-loop run
SOAK_JSON = "soak.json"  # the SoakReport of `sloguard soak`
RSS_CSV = "rss.csv"  # the target's resident memory over a soak
STRESS_JSON = "stress.json"  # the StressReport of `sloguard stress`
# `sloguard load ab`: the two run directories it writes, in this order.
AB_ROLES = ("control", "experiment")

# ---- latencies.csv ------------------------------------------------------------------------------
SEND_TIME_COLUMN = "intended_send_time"  # unix s: latency is measured from here (no coordinated omission)
ACTUAL_SEND_COLUMN = "actual_send_time"
LATENCY_COLUMN = "latency_seconds"
IMPLEMENTATION_COLUMN = "implementation"
STATUS_COLUMN = "status"  # the HTTP status; 0 = a transport error (refused, reset, timed out)
KIND_COLUMN = "kind"  # the workload's request kind
TARGET_COLUMN = "target"  # `load ab` only: the replica (base URL) that answered the row
LATENCY_COLUMNS = (SEND_TIME_COLUMN, ACTUAL_SEND_COLUMN, LATENCY_COLUMN, IMPLEMENTATION_COLUMN, STATUS_COLUMN,
                   KIND_COLUMN)  # fmt: skip
STATUS_TRANSPORT_ERROR = 0

# ---- timeline.csv and rss.csv -------------------------------------------------------------------
TIMELINE_COLUMNS = ("time", "second", "done", "errors", "error_ratio")
RSS_TIME_COLUMN = "time"
RSS_BYTES_COLUMN = "rss_bytes"
RSS_COLUMNS = (RSS_TIME_COLUMN, "elapsed_seconds", RSS_BYTES_COLUMN, "processes")
