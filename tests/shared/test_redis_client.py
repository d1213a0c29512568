"""The services' Redis client after Redis restarts: connections pooled before the restart are
dead, and a command that draws one is tried again at once on a new connection instead of
failing (health said `redis: disconnected`, rate limits and revocation checks failed open, for
as many calls as the pool held connections)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.devstack.servers import EmbeddedRedis
from shared.redis_client import connect_redis

CALLS = 8  # at once, so the pool holds this many connections


async def test_every_call_after_a_restart_succeeds(own_redis: EmbeddedRedis) -> None:
    redis = connect_redis(own_redis.url)
    try:
        assert all(await asyncio.gather(*(redis.ping() for _ in range(CALLS))))
        own_redis.stop()
        own_redis.start()
        answers = await asyncio.gather(
            *(redis.ping() for _ in range(CALLS)), return_exceptions=True
        )
        assert answers == [True] * CALLS
    finally:
        await redis.aclose()


async def test_a_call_while_redis_is_down_fails_at_once(own_redis: EmbeddedRedis) -> None:
    """The retry is one, without back-off: a call made while Redis is down is not held up."""
    redis = connect_redis(own_redis.url)
    try:
        await redis.ping()
        own_redis.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisConnectionError):
            await redis.ping()
        assert loop.time() - started < 1.0
    finally:
        await redis.aclose()
        own_redis.start()


async def test_a_loop_polling_redis_stops_when_cancelled(own_redis: EmbeddedRedis) -> None:
    """Cancelled at every moment of its calls, a loop polling Redis stops each time (redis-py's
    own write swallowed about one cancellation in seven here)."""
    redis = connect_redis(own_redis.url)
    rounds, went_on = 300, 0

    async def poll() -> None:
        while True:
            await redis.get("clock:offset")
            await asyncio.sleep(0.001)

    try:
        for round_ in range(rounds):
            task = asyncio.create_task(poll())
            await asyncio.sleep((round_ % 10) / 1000)  # cancelled at a different point each time
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=0.5)
            if not done:
                went_on += 1
                task.cancel()
                await asyncio.wait([task], timeout=1)
        assert went_on == 0, f"{went_on} of {rounds} cancelled loops went on polling"
    finally:
        await redis.aclose()


async def test_a_command_whose_reply_is_late_is_not_sent_again() -> None:
    """A timeout is not retried: Redis may have run the command (an INCR would count twice, a
    SET NX claim would come back as someone else's). A server that answers the connection's
    set-up but never an INCRBY sees it once, and the call gives up within its bound."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            header = await reader.readline()  # *<n>: a command of n bulk strings
            if not header:
                return
            parts = []
            for _ in range(int(header[1:])):
                size = int((await reader.readline())[1:])
                parts.append((await reader.readexactly(size + 2))[:-2])
            seen.append(parts[0].upper())
            if parts[0].upper() != b"INCRBY":
                writer.write(b"+OK\r\n")
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = connect_redis(f"redis://127.0.0.1:{port}/0", socket_timeout=0.3)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await redis.incr("tests:counted")
        assert loop.time() - started < 0.6
        assert seen.count(b"INCRBY") == 1, seen
    finally:
        await redis.aclose()
        server.close()
