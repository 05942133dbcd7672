"""Feature-flag routing of users to the Rust or Python implementation (SARK's rollout flags)."""

from __future__ import annotations

import os
import zlib

from sloguard import conventions as c
from sloguard.errors import UsageError


def rust_enabled_from_env(value: str | None = None) -> bool:
    """RUST_ENABLED: anything but false/0/no/off leaves Rust enabled (the default)."""
    raw = os.environ.get(c.ENV_RUST_ENABLED, "true") if value is None else value
    return raw.strip().lower() not in ("false", "0", "no", "off")


def bucket(feature: str, user_id: str) -> int:
    """A user's stable bucket 0-99 for one flag: CRC-32 of "flag:user", the same in every process."""
    return zlib.crc32(f"{feature}:{user_id}".encode()) % 100


class Router:
    """Rollout percentages per flag; a user goes to Rust when its bucket is below the percentage."""

    def __init__(self, rust_opa: float = 50.0, rust_cache: float = 50.0, rust_enabled: bool | None = None) -> None:
        self.rust_enabled = rust_enabled_from_env() if rust_enabled is None else rust_enabled
        self.percentages: dict[str, float] = {}
        self.set(c.FLAG_RUST_OPA, rust_opa)
        self.set(c.FLAG_RUST_CACHE, rust_cache)

    def set(self, feature: str, percentage: float) -> None:
        """Set one flag's rollout percentage (0-100)."""
        if feature not in c.FEATURE_FLAGS:
            raise UsageError(f"unknown feature flag {feature!r} (expected one of {', '.join(c.FEATURE_FLAGS)})")
        pct = float(percentage)
        if not 0.0 <= pct <= 100.0:
            raise UsageError(f"rollout percentage of {feature} must be within 0-100, got {percentage}")
        self.percentages[feature] = pct

    def effective(self, feature: str) -> float:
        """The percentage in force (0 when RUST_ENABLED is false)."""
        return self.percentages[feature] if self.rust_enabled else 0.0

    def assign(self, feature: str, user_id: str) -> str:
        """The implementation serving this user for this flag."""
        pct = self.percentages[feature]
        if not self.rust_enabled or pct <= 0.0:
            return c.IMPL_PYTHON
        if pct >= 100.0:
            return c.IMPL_RUST
        return c.IMPL_RUST if bucket(feature, user_id) < pct else c.IMPL_PYTHON

    def state(self) -> dict[str, object]:
        """What the admin API reports."""
        return {
            "rust_enabled": self.rust_enabled,
            **{feature: self.percentages[feature] for feature in c.FEATURE_FLAGS},
            "effective": {feature: self.effective(feature) for feature in c.FEATURE_FLAGS},
        }
