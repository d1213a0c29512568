"""The moving-window limiter against a real Redis: one script counts the hit, tells the
window's figures and reads one more key, in one round trip; it fails open."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable

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


async def test_the_marker_is_read_and_a_revoked_hit_counts_elsewhere(settings):
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 60)
    user, address = uuid.uuid4().hex, uuid.uuid4().hex
    marker = f"test:marker:{user}"

    def hits(name: str) -> Awaitable[int]:
        return redis.llen(window_key(5, 60, "test", name))  # type: ignore[return-value]

    try:
        unmarked = await limiter.hit_unless_revoked(5, "test", user, marker, 100.0, address)
        assert unmarked.marker is None and unmarked.verdict is not None
        await redis.set(marker, "200.5", ex=60)
        older = await limiter.hit_unless_revoked(5, "test", user, marker, 100.0, address)
        newer = await limiter.hit_unless_revoked(5, "test", user, marker, 300.0, address)
        assert older.marker == b"200.5" and newer.marker == b"200.5"
        # The token issued before the marker counted for the address, the others for the user.
        assert (await hits(user), await hits(address)) == (2, 1)
    finally:
        await redis.aclose()


async def test_a_refused_script_is_told_from_an_unreachable_redis(settings, caplog):
    redis = Redis.from_url(settings.redis_url)
    user = uuid.uuid4().hex
    await redis.set(window_key(5, 60, "test", user), "not a list", ex=60)
    try:
        refused = await RateLimiter(redis, 60).hit_unless_revoked(
            5, "test", user, "test:marker", 100.0, "elsewhere"
        )
    finally:
        await redis.aclose()
    assert refused.verdict is None and refused.reached  # Redis answered: the marker can be read
    assert "rate limit unavailable; allowing" in caplog.text


async def test_without_redis_the_limit_fails_open(caplog):
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        hit = await RateLimiter(redis, 60).hit_unless_revoked(1, "test", "x", "m", 1.0, "y")
    finally:
        await redis.aclose()
    assert hit.verdict is None and hit.marker is None and not hit.reached
    assert "rate limit unavailable; allowing" in caplog.text


async def test_hits_taken_at_once_are_as_many_as_the_window_has_room_for(settings):
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 60)
    caller = uuid.uuid4().hex
    try:
        assert await limiter.take(5, "test", caller, 2) == 2
        assert await limiter.take(5, "test", caller, 10) == 3
        assert await limiter.take(5, "test", caller, 1) == 0
        refused = await limiter.hit(5, "test", caller)  # one window for both ways of counting
        assert refused is not None and not refused.allowed and refused.remaining == 0
        assert await redis.llen(window_key(5, 60, "test", caller)) == 5
    finally:
        await redis.aclose()


async def test_taking_hits_without_redis_fails_open(caplog):
    redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        assert await RateLimiter(redis, 60).take(5, "test", "x", 3) is None
    finally:
        await redis.aclose()
    assert "rate limit unavailable; allowing" in caplog.text
