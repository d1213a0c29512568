"""The `notifier.voice_consents` store: recipients who agreed to AI-voice calls (TCPA), and
the `notifier.conversations` store: when a person last answered a call about a payment."""

from __future__ import annotations

import uuid

import asyncpg

from shared import paging
from shared.db import Connection, Executor, rows_affected


async def record(executor: Executor, recipient: str, source: str | None) -> asyncpg.Record:
    """The consent, recorded (or its source replaced)."""
    row: asyncpg.Record | None = await executor.fetchrow(
        "INSERT INTO voice_consents (recipient, source) VALUES ($1, $2) "
        "ON CONFLICT (recipient) DO UPDATE SET source = EXCLUDED.source RETURNING *",
        recipient,
        source,
    )
    assert row is not None
    return row


async def newest(
    executor: Executor, recipient: str | None, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """The newest `limit` consents (only `recipient`'s when given), and how many match."""
    return await paging.newest(
        executor,
        "voice_consents",
        "granted_at",
        "$1::text IS NULL OR recipient = $1",
        [recipient],
        limit,
    )


async def withdraw(executor: Executor, recipient: str) -> bool:
    """False when no consent was recorded."""
    result = await executor.execute("DELETE FROM voice_consents WHERE recipient = $1", recipient)
    return rows_affected(result) > 0


async def record_conversation(
    connection: Connection, payment_id: uuid.UUID, recipient: str
) -> None:
    """A person answered a call about the payment: Regulation F's quiet week starts."""
    await connection.execute(
        "INSERT INTO conversations (id, payment_id, recipient) VALUES ($1, $2, $3)",
        uuid.uuid4(),
        payment_id,
        recipient,
    )
