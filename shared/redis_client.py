"""The one way a process of ours makes its Redis client."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect_redis(url: str, socket_timeout: float = 2.0) -> Redis:
    """A pooled client whose calls give up within `socket_timeout` (callers fail open or report
    Redis down; none waits long for it).

    A command that draws a dead pooled connection (Redis restarted since it was made) is tried
    once more, at once, on a new one. `Redis.from_url` alone retries nothing, so after a restart
    each connection the pool held failed one call."""
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), retries=1),
    )
