"""The moving-window limiter against a real Redis: one script counts the hit, tells the
window's figures and reads one more key, in one round trip; it fails open."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from shared.ratelimit import RateLimiter, window_key


async def test_a_window_allows_the_limit_then_refuses_until_it_moves(settings):
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 60)
    caller = uuid.uuid4().hex
    started = time.time()
    try:
        verdicts = [await limiter.hit(3, "test", caller) for _ in range(4)]
        assert [v.allowed for v in verdicts if v] == [True, True, True, False]
        assert [v.remaining for v in verdicts if v] == [2, 1, 0, 0]
        refused = verdicts[3]
        assert refused is not None and started + 60 <= refused.reset_at <= time.time() + 60
        assert 1 <= int(refused.headers()["Retry-After"]) <= 60
        # Another caller, and the same caller under another limit, count on their own.
        assert (await limiter.hit(3, "test", caller + "-other")).allowed  # type: ignore[union-attr]
        assert await redis.llen(window_key(3, 60, "test", caller)) == 3
    finally:
        await redis.aclose()


async def test_an_expired_hit_leaves_the_window(settings):
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 1)
    caller = uuid.uuid4().hex
    try:
        assert (await limiter.hit(1, "test", caller)).allowed  # type: ignore[union-attr]
        assert not (await limiter.hit(1, "test", caller)).allowed  # type: ignore[union-attr]
        time.sleep(1.1)
        again = await limiter.hit(1, "test", caller)
        assert again is not None and again.allowed and again.remaining == 0
    finally:
        await redis.aclose()


async def test_the_key_asked_for_is_read_in_the_same_trip(settings):
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 60)
    marker = f"test:marker:{uuid.uuid4().hex}"
    try:
        assert (await limiter.hit_reading(5, "test", uuid.uuid4().hex, marker)).also is None
        await redis.set(marker, "1733.5", ex=60)
        hit = await limiter.hit_reading(5, "test", uuid.uuid4().hex, marker)
        assert hit.also == b"1733.5" and hit.verdict is not None and hit.verdict.remaining == 4
    finally:
        await redis.aclose()


async def test_without_redis_the_limit_fails_open(caplog):
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        hit = await RateLimiter(redis, 60).hit_reading(1, "test", "x", "test:marker")
    finally:
        await redis.aclose()
    assert hit.verdict is None and hit.also is None
    assert "rate limit unavailable; allowing" in caplog.text
