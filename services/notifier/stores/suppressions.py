"""The `notifier.suppressions` store, as the API reads and edits it: the recipients who may not
be reached, on one channel or `all` (the send loop's reads and writes are in `messages`)."""

from __future__ import annotations

import uuid

import asyncpg

from shared import paging
from shared.db import Executor, escape_like, rows_affected


async def get(executor: Executor, channel: str, recipient: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        "SELECT * FROM suppressions WHERE channel = $1 AND recipient = $2", channel, recipient
    )
    return record


async def newest(
    executor: Executor, search: str | None, limit: int
) -> tuple[list[asyncpg.Record], int]:
    """The newest `limit` entries (those whose recipient contains `search`, when given), and
    how many match."""
    return await paging.newest(
        executor,
        "suppressions",
        "created_at",
        "$1::text IS NULL OR recipient LIKE '%' || $1 || '%'",
        [escape_like(search) if search else None],
        limit,
    )


async def channels_of(executor: Executor, recipient: str) -> list[str]:
    """The channels (or `all`) on which `recipient` is suppressed, sorted."""
    rows = await executor.fetch("SELECT channel FROM suppressions WHERE recipient = $1", recipient)
    return sorted(row["channel"] for row in rows)


async def remove(executor: Executor, suppression_id: uuid.UUID, why: str, by: uuid.UUID) -> bool:
    """Remove the entry, keeping who removed it and why; False when there was no such entry."""
    result = await executor.execute(
        "WITH gone AS (DELETE FROM suppressions WHERE id = $1 RETURNING *) "
        "INSERT INTO suppression_removals (id, channel, recipient, reason, note, suppressed_at, "
        "removed_reason, removed_by) "
        "SELECT $2, channel, recipient, reason, note, created_at, $3, $4 FROM gone",
        suppression_id,
        uuid.uuid4(),
        why,
        by,
    )
    return rows_affected(result) > 0


async def removals(executor: Executor, limit: int) -> tuple[list[asyncpg.Record], int]:
    """The newest `limit` removals, and how many there are in all."""
    return await paging.newest(executor, "suppression_removals", "created_at", "true", [], limit)
