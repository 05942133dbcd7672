"""Load generation against SARK: Locust runs, an open-loop generator, soak and stress drivers."""

from __future__ import annotations
