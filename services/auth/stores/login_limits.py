"""What keeps a person from signing in besides their account's row: the per-account login
limit (LOGIN_RATE_LIMIT_PER_ACCOUNT login attempts per RATE_LIMIT_WINDOW, counted in Redis
under `ratelimit:LIMITER/login-account/<email>/…`) and the Redis lock-out of an email with no
account. An admin who unlocks or reactivates an account clears them, so the person can sign
in at once rather than after the window."""

from __future__ import annotations

import logging
import re

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.cache_clear import clear

logger = logging.getLogger(__name__)
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def limiter_pattern(email: str) -> str:
    """The Redis glob matching every login-limit key of `email` (its glob characters
    escaped: an email may hold `*`, `?` or `[`)."""
    escaped = _GLOB_SPECIAL.sub(r"\\\1", email.lower())
    return f"ratelimit:LIMITER/login-account/{escaped}/*"


async def lift(redis: Redis, email: str) -> None:
    """Clear the email's login limit and lock-out keys (a Redis error is raised: the caller
    says the limit was not cleared)."""
    address = email.lower()
    await clear(redis, limiter_pattern(address), include_protected=True)
    await redis.delete(f"auth:unknown_locked:{address}", f"auth:unknown_failures:{address}")


async def lift_or_warn(redis: Redis, email: str) -> None:
    """`lift`, where its failure must not undo what was done (a reactivation): logged."""
    try:
        await lift(redis, email)
    except RedisError as error:
        logger.warning("login limit not cleared: Redis unavailable", extra={"error": repr(error)})
