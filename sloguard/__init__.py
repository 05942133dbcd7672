"""sloguard: SLO checks, load generation, alerts and dashboards for SARK's authorization paths."""

from __future__ import annotations

from sloguard.conventions import API_VERSION, ExitCode
from sloguard.errors import BackendError, SloguardError, SpecError, UsageError

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "BackendError",
    "ExitCode",
    "SloguardError",
    "SpecError",
    "UsageError",
    "__version__",
]
