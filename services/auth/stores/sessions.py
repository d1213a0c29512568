"""Refresh-token families (OAuth 2.0 security BCP): rotate on every use, and a spent token
presented again revokes its whole family, since either the client or a thief replayed it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from services.auth.domain.secrets import new_secret, secret_hash
from shared.db import Connection, rows_affected


class Refusal(Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Rotation:
    user_id: uuid.UUID | None = None
    refresh_token: str | None = None
    refused: Refusal | None = None


async def open_family(connection: Connection, user_id: uuid.UUID, ttl: timedelta) -> str:
    """A new session (one per login); returns its first refresh token."""
    family_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO token_families (id, user_id) VALUES ($1, $2)", family_id, user_id
    )
    return await _issue(connection, family_id, ttl)


async def _issue(connection: Connection, family_id: uuid.UUID, ttl: timedelta) -> str:
    token = new_secret()
    await connection.execute(
        "INSERT INTO refresh_tokens (id, family_id, token_hash, expires_at) "
        "VALUES ($1, $2, $3, now() + $4::interval)",
        uuid.uuid4(),
        family_id,
        secret_hash(token),
        ttl,
    )
    return token


async def rotate(
    connection: Connection, token: str, ttl: timedelta, max_age: timedelta
) -> Rotation:
    """Spend `token` for a new one in the same family (a login lasts at most `max_age`);
    run inside a transaction."""
    row = await connection.fetchrow(
        "SELECT rt.id, rt.family_id, rt.used_at, "
        "rt.expires_at <= now() OR f.created_at + $2::interval <= now() AS expired, "
        "f.user_id, f.revoked_at FROM refresh_tokens rt "
        "JOIN token_families f ON f.id = rt.family_id "
        "WHERE rt.token_hash = $1 FOR UPDATE OF rt, f",
        secret_hash(token),
        max_age,
    )
    if row is None:
        return Rotation(refused=Refusal.UNKNOWN)
    if row["revoked_at"] is not None:
        return Rotation(refused=Refusal.REVOKED)
    if row["used_at"] is not None:
        await revoke_family(connection, row["family_id"], "refresh token reused")
        return Rotation(refused=Refusal.REUSED)
    if row["expired"]:
        return Rotation(refused=Refusal.EXPIRED)
    await connection.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", row["id"])
    return Rotation(
        user_id=row["user_id"], refresh_token=await _issue(connection, row["family_id"], ttl)
    )


async def family_of(connection: Connection, token: str) -> uuid.UUID | None:
    family: uuid.UUID | None = await connection.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", secret_hash(token)
    )
    return family


async def revoke_family(connection: Connection, family_id: uuid.UUID, reason: str) -> None:
    await connection.execute(
        "UPDATE token_families SET revoked_at = now(), revoked_reason = $2 "
        "WHERE id = $1 AND revoked_at IS NULL",
        family_id,
        reason,
    )


async def revoke_all_sessions(connection: Connection, user_id: uuid.UUID, reason: str) -> int:
    result = await connection.execute(
        "UPDATE token_families SET revoked_at = now(), revoked_reason = $2 "
        "WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        reason,
    )
    return rows_affected(result)
