"""Rate limits kept in Redis and shared by every service (the `limits` library, moving window).

When Redis is unreachable the limits fail open: the API keeps serving (health reports Redis
down) rather than refusing everyone. Brute force stays bounded even then, because account
lock-out is counted in Postgres, not Redis.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from shared.errors import ApiError

logger = logging.getLogger(__name__)
STATE_KEY = "rate_limit_headers"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


class RateLimiter:
    """Counts hits per (scope, identifier) in a moving window of `window_s` seconds."""

    def __init__(self, redis_url: str, window_s: int) -> None:
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix="ratelimit",
            wrap_exceptions=True,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        self.strategy = MovingWindowRateLimiter(storage)
        self.window_s = window_s

    async def take(self, amount: int, scope: str, identifier: str) -> bool | None:
        """Count one hit: whether it is within the limit, or None when Redis cannot be asked
        (the limit fails open). One round trip: no window figures for response headers."""
        try:
            return await self.strategy.hit(
                RateLimitItemPerSecond(amount, self.window_s), scope, identifier
            )
        except StorageError as error:
            logger.warning("rate limit unavailable; allowing", extra={"error": repr(error)})
            return None

    async def hit(self, amount: int, scope: str, identifier: str) -> Verdict | None:
        """Count one hit; None when Redis cannot be asked (the limit fails open)."""
        item = RateLimitItemPerSecond(amount, self.window_s)
        try:
            allowed = await self.strategy.hit(item, scope, identifier)
            stats = await self.strategy.get_window_stats(item, scope, identifier)
        except StorageError as error:
            logger.warning("rate limit unavailable; allowing", extra={"error": repr(error)})
            return None
        return Verdict(allowed, amount, stats.remaining, stats.reset_time)


def enforce(request: Request, verdicts: list[Verdict | None]) -> None:
    """Put the tightest verdict's headers on the response; refuse with 429 if any is spent."""
    known = [verdict for verdict in verdicts if verdict is not None]
    if not known:
        return
    refused = [verdict for verdict in known if not verdict.allowed]
    tightest = (
        max(refused, key=lambda v: v.reset_at) if refused else min(known, key=lambda v: v.remaining)
    )
    request.scope.setdefault("state", {})[STATE_KEY] = tightest.headers()
    if refused:
        raise ApiError(
            429,
            "Too Many Requests",
            f"Rate limit exceeded; retry in {tightest.headers()['Retry-After']} seconds",
            headers=tightest.headers(),
        )


def client_ip(request: Request) -> str:
    """The caller's address (uvicorn resolves X-Forwarded-For from the trusted gateway)."""
    return request.client.host if request.client else "unknown"
