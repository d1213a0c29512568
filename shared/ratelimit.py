"""Rate limits kept in Redis and shared by every service and replica: a moving window per
(scope, caller), counted by one Lua script in one round trip.

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
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import ApiError

logger = logging.getLogger(__name__)
STATE_KEY = "rate_limit_headers"

# The window is a list of hit times, newest first, cut to the limit's length. The hits still
# inside it are counted by a binary search (the list is ordered).
_IN_WINDOW = """
local function in_window(key, limit, since)
    local low, high, last = 0, math.min(redis.call('llen', key), limit) - 1, -1
    while low <= high do
        local middle = math.floor((low + high) / 2)
        if tonumber(redis.call('lindex', key, middle)) >= since then
            last, low = middle, middle + 1
        else
            high = middle - 1
        end
    end
    return last + 1
end
"""

# A hit is allowed when the entry `limit` places back is older than the window; the script
# also counts the hits in the window, so the response headers cost no second trip. Given a
# revocation marker (KEYS[2]), it reads it first, and counts the hit in another window
# (KEYS[3], the caller's address) when the marker is later than the credentials' issue time
# (ARGV[4]): a revoked token cannot spend its user's budget.
_HIT = (
    _IN_WINDOW
    + """
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local key, marker = KEYS[1], false
if KEYS[2] then
    marker = redis.call('get', KEYS[2])
    if marker and tonumber(ARGV[4]) < tonumber(marker) then key = KEYS[3] end
end
local since = now - window
local allowed = 0
local nth = redis.call('lindex', key, limit - 1)
if not nth or tonumber(nth) < since then
    redis.call('lpush', key, ARGV[1])
    redis.call('ltrim', key, 0, limit - 1)
    redis.call('expire', key, window)
    allowed = 1
end
local counted = in_window(key, limit, since)
local oldest = false
if counted > 0 then oldest = redis.call('lindex', key, counted - 1) end
return {allowed, counted, oldest, marker}
"""
)

# Up to ARGV[4] hits at once, as many as the window has room for; returns how many.
_TAKE = (
    _IN_WINDOW
    + """
local now, limit, window, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
    tonumber(ARGV[4])
local key = KEYS[1]
local taken = math.min(wanted, limit - in_window(key, limit, now - window))
if taken > 0 then
    local stamps = {}
    for n = 1, taken do stamps[n] = ARGV[1] end
    redis.call('lpush', key, unpack(stamps))
    redis.call('ltrim', key, 0, limit - 1)
    redis.call('expire', key, window)
end
return taken
"""
)
# Hits taken by one `take` at most (the script pushes them in one call).
MAX_TAKE = 1000


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


@dataclass(frozen=True)
class Hit:
    """A counted hit and the revocation marker read beside it. `verdict` is None when the
    script did not run: Redis unreachable (`reached` False: the marker could not be read
    either), or Redis refusing it (out of memory, a key of another type: the marker may still
    be read on its own)."""

    verdict: Verdict | None
    marker: bytes | None = None
    reached: bool = True


def window_key(amount: int, window_s: int, scope: str, identifier: str) -> str:
    """Where a caller's window lives: `ratelimit:LIMITER/<scope>/<caller>/<limit>/<window>/second`
    (operators clear `ratelimit:LIMITER/<scope>/<caller>/*` to lift one caller's limit)."""
    return f"ratelimit:LIMITER/{scope}/{identifier}/{amount}/{window_s}/second"


class RateLimiter:
    """Counts hits per (scope, identifier) in a moving window of `window_s` seconds."""

    def __init__(self, redis: Redis, window_s: int) -> None:
        self.window_s = window_s
        self._script = redis.register_script(_HIT)
        self._take = redis.register_script(_TAKE)

    async def hit(self, amount: int, scope: str, identifier: str) -> Verdict | None:
        """Count one hit; None when Redis cannot be asked (the limit fails open)."""
        return (
            await self._run(amount, [window_key(amount, self.window_s, scope, identifier)])
        ).verdict

    async def take(self, amount: int, scope: str, identifier: str, wanted: int) -> int | None:
        """Count up to `wanted` hits (at most MAX_TAKE) at once, as many as the window has room
        for; returns how many, or None when Redis cannot be asked (the limit fails open)."""
        key = window_key(amount, self.window_s, scope, identifier)
        try:
            taken = await self._take(
                keys=[key], args=[repr(time.time()), amount, self.window_s, min(wanted, MAX_TAKE)]
            )
        except RedisError as error:
            logger.warning("rate limit unavailable; allowing", extra={"error": repr(error)})
            return None
        return int(taken)

    async def hit_unless_revoked(
        self,
        amount: int,
        scope: str,
        identifier: str,
        marker: str,
        issued_at: float,
        instead: str,
    ) -> Hit:
        """Count one hit for `identifier`, reading its revocation marker in the same round trip;
        when the marker is later than `issued_at`, the hit counts for `instead`."""
        keys = [window_key(amount, self.window_s, scope, name) for name in (identifier, instead)]
        return await self._run(amount, [keys[0], marker, keys[1]], repr(issued_at))

    async def _run(self, amount: int, keys: list[str], *extra: str) -> Hit:
        now = time.time()
        try:
            allowed, counted, oldest, marker = await self._script(
                keys=keys, args=[repr(now), amount, self.window_s, *extra]
            )
        except (RedisConnectionError, RedisTimeoutError) as error:
            logger.warning("rate limit unavailable; allowing", extra={"error": repr(error)})
            return Hit(None, reached=False)
        except RedisError as error:
            logger.warning("rate limit unavailable; allowing", extra={"error": repr(error)})
            return Hit(None)
        reset_at = (float(oldest) if oldest else now) + self.window_s
        verdict = Verdict(bool(allowed), amount, amount - int(counted), reset_at)
        return Hit(verdict, marker if isinstance(marker, bytes) else None)


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
