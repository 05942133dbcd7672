"""The run directory: the one owner of its files, read and written with typed objects.

A run directory, as `sloguard load run`, `load ab`, `soak` and `stress` leave it:

    run.json          RunDocument (kind LoadRun): window, sloVariables, rates, counts, the `load ab` block
    latencies.csv     one row per request of the steady state (LATENCY_COLUMNS [+ target under `load ab`])
    timeline.csv      per-second completions and errors of an open-loop run
    soak.json rss.csv the SoakReport of `sloguard soak` and the RSS samples behind it
    stress.json       the StressReport of `sloguard stress`

`sloguard load ab` writes two of them, OUTPUT/control and OUTPUT/experiment (AB_ROLES), whose
run.json name each other. Every other module goes through this package for these files.
"""

from __future__ import annotations

from sloguard.runs.documents import (
    Interleaved,
    RunDocument,
    find_run,
    interleaved_pair,
    read_json_object,
    read_run,
    read_slo_variables,
    read_soak,
    read_stress,
    read_window,
    run_json,
    window_around,
    write_json,
    write_run,
    write_soak,
    write_stress,
)
from sloguard.runs.latencies import (
    Latencies,
    LatencyRow,
    LatencyTail,
    LatencyWriter,
    Samples,
    TaggedWriter,
    copy_in_window,
    read_latencies,
    read_samples,
)
from sloguard.runs.names import (
    AB_ROLES,
    LATENCIES_CSV,
    LATENCY_COLUMN,
    LATENCY_COLUMNS,
    RAW_LATENCIES_CSV,
    RSS_CSV,
    RUN_JSON,
    SEND_TIME_COLUMN,
    SOAK_JSON,
    STATUS_TRANSPORT_ERROR,
    STRESS_JSON,
    TARGET_COLUMN,
    TIMELINE_CSV,
)
from sloguard.runs.series import RssWriter, has_rss, read_rss, write_timeline

__all__ = [
    "AB_ROLES",
    "LATENCIES_CSV",
    "LATENCY_COLUMN",
    "LATENCY_COLUMNS",
    "RAW_LATENCIES_CSV",
    "RSS_CSV",
    "RUN_JSON",
    "SEND_TIME_COLUMN",
    "SOAK_JSON",
    "STATUS_TRANSPORT_ERROR",
    "STRESS_JSON",
    "TARGET_COLUMN",
    "TIMELINE_CSV",
    "Interleaved",
    "Latencies",
    "LatencyRow",
    "LatencyTail",
    "LatencyWriter",
    "RssWriter",
    "RunDocument",
    "Samples",
    "TaggedWriter",
    "copy_in_window",
    "find_run",
    "has_rss",
    "interleaved_pair",
    "read_json_object",
    "read_latencies",
    "read_rss",
    "read_run",
    "read_samples",
    "read_slo_variables",
    "read_soak",
    "read_stress",
    "read_window",
    "run_json",
    "window_around",
    "write_json",
    "write_run",
    "write_soak",
    "write_stress",
    "write_timeline",
]
