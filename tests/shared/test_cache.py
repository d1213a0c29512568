"""The read-through cache: a process answers from its own copy, and every process drops its
copy when a writer (or `remit cache clear`) invalidates it. Two Cache objects on one Redis
stand for two replicas of a service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest
from redis.asyncio import Redis

from shared.cache import Cache
from shared.cache_clear import clear
from tests.helpers import eventually


class Loader:
    """Postgres, as the cache sees it: the current document, and how often it was asked."""

    def __init__(self, document: bytes) -> None:
        self.document = document
        self.calls = 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        return self.document


async def _listening(cache: Cache) -> asyncio.Task[None]:
    task = asyncio.create_task(cache.listen())
    await eventually(lambda: asyncio.sleep(0, cache.listening), bool)
    return task


async def _reads(cache: Cache, load: Loader, expected: bytes) -> bytes | None:
    """What `cache` answers for doc/a, once it answers `expected` (or the last answer)."""

    def read() -> Awaitable[bytes | None]:
        return cache.get_or_load("doc", "a", load)

    return await eventually(read, lambda found: found == expected)


@pytest.fixture
async def replicas(settings) -> AsyncIterator[tuple[Cache, Cache, Redis]]:
    redis = Redis.from_url(settings.redis_url)
    namespace = f"test{uuid.uuid4().hex[:8]}"
    first, second = (Cache(redis, namespace, 600, 300) for _ in range(2))
    tasks = [await _listening(first), await _listening(second)]
    yield first, second, redis
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await redis.aclose()


async def test_a_read_is_answered_from_the_process_after_the_first(replicas):
    first, _, redis = replicas
    load = Loader(b'{"v": 1}')
    assert await first.get_or_load("doc", "a", load) == b'{"v": 1}'
    await redis.delete(first.name("doc", "a"))  # only the process's own copy is left
    assert await first.get_or_load("doc", "a", load) == b'{"v": 1}'
    assert load.calls == 1


async def test_a_write_in_one_replica_drops_the_copy_in_the_other(replicas):
    first, second, _ = replicas
    load = Loader(b'{"v": 1}')
    assert await second.get_or_load("doc", "a", load) == b'{"v": 1}'
    load.document = b'{"v": 2}'
    await first.forget("doc", "a")
    assert await _reads(second, load, b'{"v": 2}') == b'{"v": 2}'


async def test_cache_clear_drops_every_process_copy(replicas):
    first, second, redis = replicas
    load = Loader(b'{"v": 1}')
    for cache in (first, second):
        await cache.get_or_load("doc", "a", load)
    load.document = b'{"v": 2}'
    cleared = await clear(redis, f"cache:{first.namespace}:*")
    assert cleared.deleted == 1
    for cache in (first, second):
        assert await _reads(cache, load, b'{"v": 2}') == b'{"v": 2}'


async def test_a_load_overtaken_by_an_invalidation_is_not_kept(replicas):
    first, second, redis = replicas

    async def load_while_written() -> bytes:
        await first.forget("doc", "a")  # the write lands while this read is loading
        await asyncio.sleep(0.5)  # and its invalidation reaches the reading process
        return b'{"v": "old"}'

    assert await second.get_or_load("doc", "a", load_while_written) == b'{"v": "old"}'
    await redis.delete(second.name("doc", "a"))
    assert await second.get_or_load("doc", "a", Loader(b'{"v": "new"}')) == b'{"v": "new"}'


async def test_a_lost_subscription_drops_the_copies_until_it_is_back(settings):
    name = f"test-cache-{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(settings.redis_url, client_name=name)
    cache = Cache(redis, name, 600, 300)
    listener = await _listening(cache)
    load = Loader(b'{"v": 1}')
    try:
        await cache.get_or_load("doc", "a", load)
        subscriptions = await redis.client_list(_type="pubsub")
        ours = [client["id"] for client in subscriptions if client["name"] == name]
        assert len(ours) == 1
        await redis.client_kill_filter(_id=ours[0])  # Redis drops the subscriber's connection
        await eventually(lambda: asyncio.sleep(0.05, cache.listening), lambda on: not on)
        load.document = b'{"v": 2}'  # changed meanwhile, the invalidation unheard
        await redis.delete(cache.name("doc", "a"))
        assert await cache.get_or_load("doc", "a", load) == b'{"v": 2}'
        await eventually(lambda: asyncio.sleep(0.05, cache.listening), bool)  # subscribed again
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await redis.aclose()


async def test_copies_expire_and_the_oldest_goes_first_when_full(replicas):
    _, _, redis = replicas
    cache = Cache(redis, f"test{uuid.uuid4().hex[:8]}", 600, 0.3, size=2)
    listener = await _listening(cache)
    load = Loader(b"{}")
    try:
        for key in ("a", "b", "c"):  # a third copy pushes out the first
            await cache.get_or_load("doc", key, load)
        await redis.delete(*(cache.name("doc", key) for key in ("a", "b", "c")))
        for key in ("c", "b", "a"):
            await cache.get_or_load("doc", key, load)
        assert load.calls == 4  # "a" loaded again, "b" and "c" answered by their copies
        await cache.get_or_load("doc", "c", load)
        assert load.calls == 4  # "c" still held ("b" made room for "a")
        await asyncio.sleep(0.4)
        await cache.get_or_load("doc", "c", load)
        assert load.calls == 5  # the copy of "c" expired
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def test_no_copies_with_a_local_ttl_of_zero(replicas):
    _, _, redis = replicas
    cache = Cache(redis, f"test{uuid.uuid4().hex[:8]}", 600, 0)
    listener = await _listening(cache)
    load = Loader(b"{}")
    try:
        await cache.get_or_load("doc", "a", load)
        await redis.delete(cache.name("doc", "a"))
        await cache.get_or_load("doc", "a", load)
        assert load.calls == 2
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def test_a_process_not_listening_keeps_no_copies(settings):
    redis = Redis.from_url(settings.redis_url)
    cache = Cache(redis, f"test{uuid.uuid4().hex[:8]}", 600, 300)
    load = Loader(b"{}")
    try:
        await cache.get_or_load("doc", "a", load)
        await redis.delete(cache.name("doc", "a"))
        await cache.get_or_load("doc", "a", load)
    finally:
        await redis.aclose()
    assert load.calls == 2  # it could miss an invalidation, so it keeps nothing of its own


async def test_without_redis_reads_go_to_the_loader(caplog):
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    cache = Cache(redis, "test", 60, 30)
    listener = asyncio.create_task(cache.listen())
    load = Loader(b"{}")
    try:
        for _ in range(2):
            assert await cache.get_or_load("doc", "a", load) == b"{}"
        await cache.forget("doc", "a")  # the write itself goes on
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await redis.aclose()
    assert load.calls == 2 and not cache.listening
    assert "cache unavailable" in caplog.text and "cache invalidation failed" in caplog.text
