"""Access-token revocations that outlive Redis: recorded in `auth.access_revocations` with the
change that caused them, so they can be put back into Redis whenever Redis has lost them
(the Redis side: `lost_from_redis`, `restore_in_redis`)."""

from __future__ import annotations

import uuid

import asyncpg
from redis.asyncio import Redis

from shared.db import Connection, Executor
from shared.security import restore_revocation

# Set in Redis once the markers are in place; a Redis that restarted empty lacks it.
SEEDED = "auth:revocations_seeded"


async def record(connection: Connection, user_id: uuid.UUID) -> None:
    """The user's access tokens issued before now are revoked (in the caller's transaction;
    the caller then sets the Redis marker, `shared.security.revoke_access_tokens`)."""
    await connection.execute(
        "INSERT INTO access_revocations (user_id, revoked_before) VALUES ($1, now()) "
        "ON CONFLICT (user_id) DO UPDATE SET revoked_before = EXCLUDED.revoked_before",
        user_id,
    )


async def revoked_within(executor: Executor, seconds: int) -> list[asyncpg.Record]:
    """The revocations made in the last `seconds`: `user_id`, and `at` (epoch seconds)."""
    rows: list[asyncpg.Record] = await executor.fetch(
        "SELECT user_id, extract(epoch FROM revoked_before) AS at "
        "FROM access_revocations "
        "WHERE revoked_before > now() - make_interval(secs => $1)",
        seconds,
    )
    return rows


async def lost_from_redis(redis: Redis) -> bool:
    """Whether Redis has lost the revocation markers (it restarted empty since they were put)."""
    return not await redis.exists(SEEDED)


async def restore_in_redis(redis: Redis, revoked: list[asyncpg.Record], ttl_s: int) -> None:
    """Put these revocations (`revoked_within`'s rows) back as markers, then note it done."""
    for row in revoked:
        await restore_revocation(redis, row["user_id"], float(row["at"]), ttl_s)
    await redis.set(SEEDED, "1")
