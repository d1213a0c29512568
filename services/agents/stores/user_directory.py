"""The `agents.user_directory` store: auth's users as the `user.*` events describe them, to
check that a human agent is an active user."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.db import Connection, Executor


async def remember(
    connection: Connection,
    user_id: uuid.UUID,
    email: str,
    role: str,
    is_active: bool,
    event_at: datetime,
) -> None:
    """Write the user as an event of `event_at` describes them, unless a newer event has."""
    await connection.execute(
        "INSERT INTO user_directory (user_id, email, role, is_active, event_at) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, role = EXCLUDED.role, "
        "is_active = EXCLUDED.is_active, event_at = EXCLUDED.event_at, updated_at = now() "
        "WHERE user_directory.event_at < EXCLUDED.event_at",
        user_id,
        email,
        role,
        is_active,
        event_at,
    )


async def is_active_user(executor: Executor, user_id: uuid.UUID) -> bool:
    """Whether the user is known here and active (False for a user not heard of yet)."""
    return bool(
        await executor.fetchval("SELECT is_active FROM user_directory WHERE user_id = $1", user_id)
    )
