"""Password-reset links: single use, expiring, stored only as a hash."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.auth.domain.secrets import new_secret, secret_hash
from shared.db import Connection


async def create_reset(connection: Connection, user_id: uuid.UUID, ttl: timedelta) -> str:
    token = new_secret()
    await connection.execute(
        "INSERT INTO password_resets (id, user_id, token_hash, expires_at) "
        "VALUES ($1, $2, $3, now() + $4::interval)",
        uuid.uuid4(),
        user_id,
        secret_hash(token),
        ttl,
    )
    return token


async def consume_reset(connection: Connection, token: str) -> uuid.UUID | None:
    """The user the link belongs to, spending it; None when unknown, used or expired."""
    user_id: uuid.UUID | None = await connection.fetchval(
        "UPDATE password_resets SET used_at = now() "
        "WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id",
        secret_hash(token),
    )
    if user_id is not None:  # the other links sent to this user stop working too
        await connection.execute(
            "UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL",
            user_id,
        )
    return user_id
