"""The `campaigns.replies` store: what customers answered, as understood."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.contracts import ReplyClassified
from shared.db import Executor
from shared.paging import Page, keyset_page

COLUMNS = (
    "id, customer_id, campaign_id, channel, text, intent, confidence, promised_date, created_at"
)


async def record(
    executor: Executor, reply_id: uuid.UUID, understood_at: datetime, reply: ReplyClassified
) -> None:
    """Keep the reply once (however often its event arrives), dated when it was understood."""
    await executor.execute(
        "INSERT INTO replies (id, customer_id, campaign_id, channel, text, intent, confidence, "
        "promised_date, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (id) DO NOTHING",
        reply_id,
        reply.customer_id,
        reply.campaign_id,
        reply.channel,
        reply.text,
        reply.intent,
        reply.confidence,
        reply.promised_date,
        understood_at,
    )


async def page(
    executor: Executor,
    customer_id: uuid.UUID | None,
    campaign_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page:
    return await keyset_page(
        executor,
        COLUMNS,
        "replies t",
        "($1::uuid IS NULL OR customer_id = $1) AND ($2::uuid IS NULL OR campaign_id = $2)",
        [customer_id, campaign_id],
        limit,
        cursor,
    )
