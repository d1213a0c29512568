"""Access-token revocations that outlive Redis: recorded in `auth.access_revocations` with the
change that caused them, so they can be put back into Redis whenever Redis has lost them."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Connection, Executor


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
