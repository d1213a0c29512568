"""Housekeeping of the messaging tables every schema has: nothing grows without bound."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared.db import DATABASE_ERRORS, Executor
from shared.outbox import published
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)


async def prune(executor: Executor, settings: ServiceSettings) -> tuple[int, int]:
    """Delete published outbox rows and dedup records past their retention; returns counts."""
    outbox = await executor.fetchval(
        # By creation, not by publication: a replay publishes a row again, and its consumers'
        # dedup records date from the first time (they must outlive it).
        f"WITH gone AS (DELETE FROM outbox WHERE {published()} "
        "AND created_at < now() - make_interval(hours => $1) RETURNING 1) "
        "SELECT count(*) FROM gone",
        settings.outbox_retention_hours,
    )
    processed = await executor.fetchval(
        "WITH gone AS (DELETE FROM processed_events "
        "WHERE processed_at < now() - make_interval(hours => $1) RETURNING 1) "
        "SELECT count(*) FROM gone",
        settings.processed_event_retention_hours,
    )
    return int(outbox), int(processed)


async def prune_forever(
    pool: asyncpg.Pool, settings: ServiceSettings, every_s: float = 3600
) -> None:
    while True:
        try:
            outbox, processed = await prune(pool, settings)
            if outbox or processed:
                logger.info("pruned", extra={"outbox": outbox, "processed_events": processed})
        except DATABASE_ERRORS as error:
            logger.warning("pruning failed; will retry", extra={"error": repr(error)})
        await asyncio.sleep(every_s)
