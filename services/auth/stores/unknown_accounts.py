"""Failed logins for emails that have no account, counted in Redis and locked out exactly like
real accounts, so the lock-out message does not tell strangers which emails exist."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


async def record_failure(
    redis: Redis, email: str, now: datetime, max_failed: int, lockout: timedelta
) -> datetime | None:
    """Count one failure; the time the lock ends when the email is (now) locked, else None."""
    failures_key = f"auth:unknown_failures:{email.lower()}"
    lock_key = f"auth:unknown_locked:{email.lower()}"
    try:
        # The lock keeps the time it ends, as an account's row does: every refusal names the
        # same instant, where a time worked out from the key's TTL would drift.
        locked_until = await redis.get(lock_key)
        if locked_until:
            text = locked_until.decode() if isinstance(locked_until, bytes) else locked_until
            return datetime.fromisoformat(text)
        failures = await redis.incr(failures_key)
        await redis.expire(failures_key, int(lockout.total_seconds()) * 4)
        if failures >= max_failed:
            until = now + lockout
            await redis.set(lock_key, until.isoformat(), ex=int(lockout.total_seconds()))
            await redis.delete(failures_key)
            return until
    except RedisError as error:
        logger.warning("unknown-account lock-out unavailable", extra={"error": repr(error)})
    return None
