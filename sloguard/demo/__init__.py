"""The reference SARK service: Rust and Python decision paths, policy server, bundled policies.

Heavy dependencies (starlette, uvicorn, regorus, redis, cachebox) are imported by the
modules that use them, never here.
"""

from __future__ import annotations

__all__: list[str] = []
