"""Decision caches: the Rust path's in-process cache (cachebox) and the Python path's Redis.

cachebox's VTTLCache is chosen over moka-py because it takes a TTL per entry (SARK's TTL
comes from each decision's sensitivity), is bounded (evicting the entry closest to expiry),
and a get costs about 0.1 µs.
"""

from __future__ import annotations

from typing import Any

from sloguard.demo.decision import Decision

# cachebox and redis are imported inside the caches that use them: the demo extra installs them.


class CacheUnavailable(Exception):
    """The cache could not be reached; the request bypasses it."""


class RustCache:
    """In-process decision cache backed by cachebox (Rust)."""

    implementation = "rust"

    def __init__(self, maxsize: int = 100_000) -> None:
        import cachebox

        self._cache: Any = cachebox.VTTLCache(maxsize)

    # Synchronous on purpose: an in-process lookup should not pay for a coroutine.
    def get(self, key: str) -> Decision | None:
        """The cached decision or None."""
        return self._cache.get(key)

    def set(self, key: str, decision: Decision, ttl: int) -> None:
        """Cache a decision for ttl seconds."""
        self._cache.insert(key, decision, ttl)

    def delete(self, key: str) -> None:
        """Forget one decision."""
        self._cache.pop(key, None)

    def clear(self) -> None:
        """Forget every decision."""
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


class RedisCache:
    """Decision cache in Redis through a pooled asyncio client (no retries: a miss is cheaper)."""

    implementation = "python"

    def __init__(self, url: str, *, timeout: float = 0.25, max_connections: int = 64) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        # redis-py retries failed commands by default; with Redis down that would add its
        # backoff to every request, so one attempt it is, and the request bypasses the cache.
        self._client: Any = aioredis.Redis.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            health_check_interval=0,
        )
        import redis.exceptions

        self._errors = (redis.exceptions.RedisError, OSError, TimeoutError)

    async def get(self, key: str) -> Decision | None:
        """The cached decision or None; raises CacheUnavailable."""
        try:
            raw = await self._client.get(key)
        except self._errors as exc:
            raise CacheUnavailable(str(exc)) from None
        return None if raw is None else Decision.from_json(raw)

    async def set(self, key: str, decision: Decision, ttl: int) -> None:
        """Cache a decision for ttl seconds; raises CacheUnavailable."""
        try:
            await self._client.set(key, decision.to_json(), ex=ttl)
        except self._errors as exc:
            raise CacheUnavailable(str(exc)) from None

    async def delete(self, key: str) -> None:
        """Forget one decision; raises CacheUnavailable."""
        try:
            await self._client.delete(key)
        except self._errors as exc:
            raise CacheUnavailable(str(exc)) from None

    async def clear(self, prefix: str) -> int:
        """Delete every key under prefix (SCAN, never FLUSHDB: the Redis may be shared)."""
        deleted = 0
        try:
            batch: list[Any] = []
            async for key in self._client.scan_iter(match=prefix + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self._client.delete(*batch)
                    batch = []
            if batch:
                deleted += await self._client.delete(*batch)
        except self._errors as exc:
            raise CacheUnavailable(str(exc)) from None
        return deleted

    async def ping(self) -> bool:
        """Whether Redis answers PING."""
        try:
            return bool(await self._client.ping())
        except self._errors:
            return False

    async def close(self) -> None:
        """Close the pool."""
        await self._client.aclose()
