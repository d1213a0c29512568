"""The `auth.users` store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import Connection, Executor

USER_COLUMNS = (
    "id, email, role, is_active, failed_login_attempts, locked_until, last_login_at, "
    "created_at, updated_at"
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


async def user_by_email(
    executor: Executor, email: str, *, lock: bool = False
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)"
        + (" FOR UPDATE" if lock else ""),
        email,
    )
    return record


async def user_by_id(
    executor: Executor, user_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        user_id,
    )
    return record


async def record_login(executor: Executor, user_id: uuid.UUID) -> None:
    await executor.execute(
        "UPDATE users SET last_login_at = now(), failed_login_attempts = 0, locked_until = NULL, "
        "updated_at = now() WHERE id = $1",
        user_id,
    )


async def unlock(executor: Executor, user_id: uuid.UUID) -> asyncpg.Record | None:
    """Ends the account's lock-out and forgets its failed logins; the user, or None."""
    record: asyncpg.Record | None = await executor.fetchrow(
        "UPDATE users SET failed_login_attempts = 0, locked_until = NULL, updated_at = now() "
        f"WHERE id = $1 RETURNING {USER_COLUMNS}",
        user_id,
    )
    return record


async def record_failed_login(
    executor: Executor, user_id: uuid.UUID, failed_attempts: int, locked_until: datetime | None
) -> None:
    await executor.execute(
        "UPDATE users SET failed_login_attempts = $2, locked_until = $3, updated_at = now() "
        "WHERE id = $1",
        user_id,
        failed_attempts,
        locked_until,
    )


@dataclass(frozen=True)
class UserFilter:
    email: str | None = None
    role: str | None = None
    is_active: bool | None = None


_MATCHING = (
    "FROM users WHERE ($1::text IS NULL OR strpos(lower(email), lower($1)) > 0) "
    "AND ($2::text IS NULL OR role = $2) AND ($3::boolean IS NULL OR is_active = $3)"
)


async def list_users(
    executor: Executor, where: UserFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page and the total matching (the total from the page itself when it has rows)."""
    filters = (where.email, where.role, where.is_active)
    rows = await executor.fetch(
        f"SELECT {USER_COLUMNS}, count(*) OVER () AS total {_MATCHING} "
        "ORDER BY created_at, id LIMIT $4 OFFSET $5",
        *filters,
        limit,
        offset,
    )
    if rows:
        page = [{k: v for k, v in row.items() if k != "total"} for row in rows]
        return page, int(rows[0]["total"])
    return [], int(await executor.fetchval(f"SELECT count(*) {_MATCHING}", *filters))


async def update_user(
    connection: Connection, user_id: uuid.UUID, role: str | None, is_active: bool | None
) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await connection.fetchrow(
        "UPDATE users SET role = coalesce($2, role), is_active = coalesce($3, is_active), "
        f"updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}",
        user_id,
        role,
        is_active,
    )
    return record


async def other_active_admins(connection: Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    """The active admins other than `user_id`, their rows locked: of two admins removing each
    other at once, the second waits for the first and then sees one admin fewer."""
    rows: list[asyncpg.Record] = await connection.fetch(
        "SELECT id FROM users WHERE role = 'admin' AND is_active AND id <> $1 FOR UPDATE",
        user_id,
    )
    return rows


async def lock_first_admin(connection: Connection) -> None:
    """Serialise the creation of the first admin (until the caller's transaction ends)."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('auth.first_admin'))")


async def admin_exists(executor: Executor) -> bool:
    return bool(await executor.fetchval("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1"))


async def set_password(connection: Connection, user_id: uuid.UUID, password_hash: str) -> None:
    await connection.execute(
        "UPDATE users SET password_hash = $2, failed_login_attempts = 0, locked_until = NULL, "
        "updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )
