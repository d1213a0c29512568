"""Read-through cache of JSON documents: in the process for a few seconds, in Redis for longer,
invalidated by the writer in both places and in every other process.

A read is answered from the process's own memory when it can (no round trip at all), else from
Redis, else from the loader (Postgres). A writer's `forget` deletes the Redis entry, drops its
own copy and publishes the key on `cache:invalidations`; every process listens there and drops
its copy. A process keeps copies only while it is listening, so one that cannot hear the
invalidations (Redis down, the subscription lost) reads through to Redis or Postgres instead.

Fails open: when Redis is unreachable, reads go to the database and writes still succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

INVALIDATIONS = "cache:invalidations"
# Published instead of a key: every process drops all its copies (`remit cache clear`).
EVERYTHING = b"*"


class Cache:
    def __init__(
        self, redis: Redis, namespace: str, ttl_s: int, local_ttl_s: float, size: int = 10_000
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_s = ttl_s
        self.local_ttl_s = local_ttl_s
        self.size = size
        self.listening = False
        self._local: dict[str, tuple[float, bytes]] = {}
        # Bumped by every invalidation, so a load that began before one is not kept after it.
        self._generation = 0

    def name(self, kind: str, key: str) -> str:
        """The document's key in Redis."""
        return f"cache:{self.namespace}:{kind}:{key}"

    async def get_or_load(
        self, kind: str, key: str, load: Callable[[], Awaitable[bytes | None]]
    ) -> bytes | None:
        """The document (JSON) under `kind`/`key`, or None when `load` finds nothing."""
        name = self.name(kind, key)
        held = self._local.get(name)
        if held is not None and time.monotonic() < held[0]:
            return held[1]
        generation = self._generation
        value = await self._shared(name, load)
        if value is not None and self.listening and generation == self._generation:
            self._hold(name, value)
        return value

    async def _shared(self, name: str, load: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        try:
            cached = await self.redis.get(name)
        except RedisError as error:
            logger.warning("cache unavailable", extra={"error": repr(error)})
            return await load()
        if cached is not None:
            return cached if isinstance(cached, bytes) else cached.encode()
        value = await load()
        if value is not None:
            try:
                await self.redis.set(name, value, ex=self.ttl_s)
            except RedisError as error:
                logger.warning("cache unavailable", extra={"error": repr(error)})
        return value

    def _hold(self, name: str, value: bytes) -> None:
        if self.local_ttl_s <= 0:
            return
        if len(self._local) >= self.size and name not in self._local:
            del self._local[next(iter(self._local))]  # the oldest copy goes first
        self._local[name] = (time.monotonic() + self.local_ttl_s, value)

    def _drop(self, name: bytes) -> None:
        self._generation += 1
        if name == EVERYTHING:
            self._local.clear()
        else:
            self._local.pop(name.decode(), None)

    async def forget(self, kind: str, key: str) -> None:
        """After a change is written: no process serves the old document from then on."""
        name = self.name(kind, key)
        self._drop(name.encode())
        try:
            await self.redis.delete(name)
            await self.redis.publish(INVALIDATIONS, name)
        except RedisError as error:
            # The entry may now outlive the change by up to the TTL; say so loudly.
            logger.error("cache invalidation failed", extra={"key": key, "error": repr(error)})

    async def listen(self) -> None:
        """Drop the copies other processes invalidate, for the life of the service. Copies are
        kept only while subscribed; each (re)subscription starts from none, since invalidations
        published while away were missed."""
        while True:
            try:
                async with self.redis.pubsub() as subscription:
                    await subscription.subscribe(INVALIDATIONS)
                    self._drop(EVERYTHING)
                    self.listening = True
                    while True:
                        message = await subscription.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message["type"] == "message":
                            self._drop(bytes(message["data"]))
            except RedisError as error:
                logger.warning("cache invalidations unavailable", extra={"error": repr(error)})
            finally:
                self.listening = False
                self._drop(EVERYTHING)
            await asyncio.sleep(1)


async def drop_everywhere(redis: Redis) -> None:
    """Every process drops all its in-process copies (after their Redis entries were cleared)."""
    await redis.publish(INVALIDATIONS, EVERYTHING)
