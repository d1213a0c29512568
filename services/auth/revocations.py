"""Access-token revocations that outlive Redis: recorded in `auth.access_revocations` with the
change that caused them, and put back into Redis whenever Redis has lost them."""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.exceptions import RedisError

from shared.db import DATABASE_ERRORS, Connection
from shared.resources import Resources
from shared.security import restore_revocation

logger = logging.getLogger(__name__)

# Set in Redis once the markers are in place; a Redis that restarted empty lacks it.
SEEDED = "auth:revocations_seeded"
CHECK_EVERY_S = 5.0
_OUTAGES: tuple[type[Exception], ...] = (RedisError, *DATABASE_ERRORS)


async def record(connection: Connection, user_id: uuid.UUID) -> None:
    """The user's access tokens issued before now are revoked (in the caller's transaction;
    the caller then sets the Redis marker, `shared.security.revoke_access_tokens`)."""
    await connection.execute(
        "INSERT INTO access_revocations (user_id, revoked_before) VALUES ($1, now()) "
        "ON CONFLICT (user_id) DO UPDATE SET revoked_before = EXCLUDED.revoked_before",
        user_id,
    )


async def keep_seeded(found: Resources) -> None:
    """Every few seconds: if Redis lost the markers, put back those still needed (revoked
    within an access token's lifetime)."""
    ttl = found.settings.access_token_ttl
    while True:
        try:
            if not await found.redis.exists(SEEDED):
                rows = await found.pool.fetch(
                    "SELECT user_id, extract(epoch FROM revoked_before) AS at "
                    "FROM access_revocations "
                    "WHERE revoked_before > now() - make_interval(secs => $1)",
                    ttl + 60,
                )
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
