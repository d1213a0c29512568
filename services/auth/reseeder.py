"""The auth service's background loop: access-token revocations put back into Redis whenever
Redis has lost them (a restart with an empty Redis), so a revoked token stays refused."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from services.auth.stores import revocations
from shared.db import DATABASE_ERRORS
from shared.resources import Resources
from shared.security import restore_revocation

logger = logging.getLogger(__name__)

# Set in Redis once the markers are in place; a Redis that restarted empty lacks it.
SEEDED = "auth:revocations_seeded"
CHECK_EVERY_S = 5.0
_OUTAGES: tuple[type[Exception], ...] = (RedisError, *DATABASE_ERRORS)


async def keep_seeded(found: Resources) -> None:
    """Every few seconds: if Redis lost the markers, put back those still needed (revoked
    within an access token's lifetime)."""
    ttl = found.settings.access_token_ttl
    while True:
        try:
            if not await found.redis.exists(SEEDED):
                rows = await revocations.revoked_within(found.pool, ttl + 60)
                for row in rows:
                    await restore_revocation(found.redis, row["user_id"], float(row["at"]), ttl)
                await found.redis.set(SEEDED, "1")
                if rows:
                    logger.warning(
                        "access-token revocations restored in Redis",
                        extra={"count": len(rows)},
                    )
        except _OUTAGES as error:
            logger.warning("revocations not checked; will retry", extra={"error": repr(error)})
        await asyncio.sleep(CHECK_EVERY_S)
