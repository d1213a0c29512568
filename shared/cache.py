"""Read-through cache of JSON documents in Redis, invalidated by the writer.

Fails open: when Redis is unreachable, reads go to the database and writes still succeed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class Cache:
    def __init__(self, redis: Redis, namespace: str, ttl_s: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s

    def _key(self, kind: str, key: str) -> str:
        return f"cache:{self.namespace}:{kind}:{key}"

    async def get_or_load(
        self, kind: str, key: str, load: Callable[[], Awaitable[dict[str, Any] | None]]
    ) -> dict[str, Any] | None:
        try:
            cached = await self.redis.get(self._key(kind, key))
        except RedisError as error:
            logger.warning("cache unavailable", extra={"error": repr(error)})
            return await load()
        if cached is not None:
            found: dict[str, Any] = json.loads(cached)
            return found
        value = await load()
        if value is not None:
            try:
                await self.redis.set(self._key(kind, key), json.dumps(value), ex=self.ttl_s)
            except RedisError as error:
                logger.warning("cache unavailable", extra={"error": repr(error)})
        return value

    async def forget(self, kind: str, key: str) -> None:
        try:
            await self.redis.delete(self._key(kind, key))
        except RedisError as error:
            # The entry may now outlive the change by up to the TTL; say so loudly.
            logger.error("cache invalidation failed", extra={"key": key, "error": repr(error)})
