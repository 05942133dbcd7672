"""`python -m sloguard` runs the CLI (the stack starts its own children this way)."""

from __future__ import annotations

from sloguard.cli import main

main()
