"""The versioned SLO spec: v1 models, a loader with file:line errors, and the internal model."""

from __future__ import annotations

from sloguard.spec.loader import load_spec, load_spec_text
from sloguard.spec.model import (
    SLI,
    Bound,
    ErrorRatioSLI,
    LatencyRatioSLI,
    LatencySLI,
    Matcher,
    MemoryGrowthSLI,
    MetricSelector,
    NoData,
    Objective,
    PromQLSLI,
    Scoring,
    SLOSet,
    ThroughputSLI,
)

__all__ = [
    "SLI",
    "Bound",
    "ErrorRatioSLI",
    "LatencyRatioSLI",
    "LatencySLI",
    "Matcher",
    "MemoryGrowthSLI",
    "MetricSelector",
    "NoData",
    "Objective",
    "PromQLSLI",
    "SLOSet",
    "Scoring",
    "ThroughputSLI",
    "load_spec",
    "load_spec_text",
]
