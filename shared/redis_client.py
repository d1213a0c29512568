"""The one way a process of ours makes its Redis client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from redis.asyncio import Connection, ConnectionPool, Redis, SSLConnection
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = bytes | str | Iterable[bytes]


def connect_redis(url: str, socket_timeout: float = 2.0) -> Redis:
    """A pooled client whose calls give up within `socket_timeout` (callers fail open or report
    Redis down; none waits long for it).

    A command that draws a dead pooled connection (Redis restarted since it was made) is tried
    once more, at once, on a new one: `Redis.from_url` alone retries nothing, so after a restart
    each connection the pool held failed one call. Only a connection error is retried, never a
    timeout: Redis may have run a command whose reply was late (an INCR counted twice, a
    SET NX claim seen as someone else's). And a task cancelled while it writes a command is
    cancelled (`_CancellableWrites`)."""
    pool = ConnectionPool.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    )
    pool.connection_class = _CANCELLABLE.get(pool.connection_class, pool.connection_class)
    return Redis.from_pool(pool)


class _CancellableWrites(AbstractConnection):
    """redis-py bounds a command's write with `asyncio.wait_for`, which on Python 3.11 swallows
    a cancellation that arrives as the write completes: the cancelled task ran on (a service's
    stop waited on a job polling Redis until the process was killed). The same bound is kept
    here with `asyncio.timeout`, redis-py writing unbounded meanwhile (it reads the bound
    again for the reply)."""

    async def send_packed_command(self, command: Command, check_health: bool = True) -> None:
        bound, self.socket_timeout = self.socket_timeout, None
        try:
            async with asyncio.timeout(bound or None):  # 0, as for redis-py, is no bound
                await super().send_packed_command(command, check_health)
        except TimeoutError as error:  # redis-py has disconnected on the cancellation
            raise RedisTimeoutError("Timeout writing to socket") from error
        finally:
            self.socket_timeout = bound


class _PlainConnection(_CancellableWrites, Connection):
    pass


class _TlsConnection(_CancellableWrites, SSLConnection):
    pass


_CANCELLABLE: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _PlainConnection,
    SSLConnection: _TlsConnection,
}
