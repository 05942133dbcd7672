"""Report writers: one module per format (json, junit, markdown, terminal table)."""

from __future__ import annotations
