"""Errors a user can cause or fix; the CLI prints them as one line and exits with their code."""

from __future__ import annotations

from sloguard.conventions import ExitCode


class SloguardError(Exception):
    """An error with a one-line message for the user and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


class SpecError(SloguardError):
    """The spec is invalid; the message starts with file:line."""


class BackendError(SloguardError):
    """Prometheus could not be reached or answered something unusable."""


class UsageError(SloguardError):
    """Arguments that cannot work together or point at nothing."""
