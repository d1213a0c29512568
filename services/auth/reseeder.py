"""The auth service's background loop: access-token revocations put back into Redis whenever
Redis has lost them (a restart with an empty Redis), so a revoked token stays refused."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from services.auth.stores import revocations
from shared.db import DATABASE_ERRORS
from shared.resources import Resources

logger = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
_OUTAGES: tuple[type[Exception], ...] = (RedisError, *DATABASE_ERRORS)


async def keep_seeded(found: Resources) -> None:
    """Every few seconds: if Redis lost the markers, put back those still needed (revoked
    within an access token's lifetime)."""
    ttl = found.settings.access_token_ttl
    while True:
        try:
            if await revocations.lost_from_redis(found.redis):
                rows = await revocations.revoked_within(found.pool, ttl + 60)
                await revocations.restore_in_redis(found.redis, rows, ttl)
                if rows:
                    logger.warning(
                        "access-token revocations restored in Redis",
                        extra={"count": len(rows)},
                    )
        except _OUTAGES as error:
            logger.warning("revocations not checked; will retry", extra={"error": repr(error)})
        await asyncio.sleep(CHECK_EVERY_S)
