"""The `auth.users` store."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Connection, Executor

USER_COLUMNS = (
    "id, email, role, is_active, failed_login_attempts, last_login_at, created_at, updated_at"
)


async def insert_user(
    connection: Connection, email: str, password_hash: str, role: str
) -> asyncpg.Record | None:
    """The new user, or None when the email is taken (case-insensitively)."""
    record: asyncpg.Record | None = await connection.fetchrow(
        f"INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4) "
        f"ON CONFLICT (lower(email)) DO NOTHING RETURNING {USER_COLUMNS}",
        uuid.uuid4(),
        email,
        password_hash,
        role,
    )
    return record


async def user_by_email(connection: Executor, email: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await connection.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)", email
    )
    return record


async def user_by_id(connection: Executor, user_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await connection.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id
    )
    return record


async def record_login(connection: Executor, user_id: uuid.UUID) -> None:
    await connection.execute(
        "UPDATE users SET last_login_at = now(), failed_login_attempts = 0, updated_at = now() "
        "WHERE id = $1",
        user_id,
    )


async def record_failed_login(connection: Executor, user_id: uuid.UUID) -> None:
    await connection.execute(
        "UPDATE users SET failed_login_attempts = failed_login_attempts + 1, updated_at = now() "
        "WHERE id = $1",
        user_id,
    )


def user_event_payload(user: asyncpg.Record) -> dict[str, Any]:
    return {
        "userId": str(user["id"]),
        "email": user["email"],
        "role": user["role"],
        "isActive": user["is_active"],
    }
