"""The `notifier.suppressions` store, as the API reads and edits it: the recipients who may not
be reached, on one channel or `all` (the send loop's reads and writes are in `messages`)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.db import Executor, rows_affected


async def get(executor: Executor, channel: str, recipient: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        "SELECT * FROM suppressions WHERE channel = $1 AND recipient = $2", channel, recipient
    )
    return record


async def newest(executor: Executor, limit: int) -> tuple[list[asyncpg.Record], int]:
    """The newest `limit` entries, and how many there are in all."""
    rows = await executor.fetch(
        "SELECT * FROM suppressions ORDER BY created_at DESC LIMIT $1", limit
    )
    total: int = await executor.fetchval("SELECT count(*) FROM suppressions")
    return list(rows), total


async def channels_of(executor: Executor, recipient: str) -> list[str]:
    """The channels (or `all`) on which `recipient` is suppressed, sorted."""
    rows = await executor.fetch("SELECT channel FROM suppressions WHERE recipient = $1", recipient)
    return sorted(row["channel"] for row in rows)


async def remove(executor: Executor, suppression_id: uuid.UUID) -> bool:
    """False when there was no such entry."""
    result = await executor.execute("DELETE FROM suppressions WHERE id = $1", suppression_id)
    return rows_affected(result) > 0
