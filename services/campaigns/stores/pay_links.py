"""The `campaigns.pay_links` store: the debtor's links, one live per payment record, and the
key that signs them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from shared.db import Executor


async def signing_key(executor: Executor) -> bytes:
    key: bytes = await executor.fetchval("SELECT secret FROM pay_link_keys WHERE id = 1")
    return key


async def live_for(
    executor: Executor, payments: dict[uuid.UUID, uuid.UUID], now: datetime, ttl: timedelta
) -> dict[uuid.UUID, uuid.UUID]:
    """The live link of each payment record (`payment ID → customer ID`), made when it has
    none that lasts another day: `payment ID → link ID`."""
    if not payments:
        return {}
    rows = await executor.fetch(
        "WITH wanted AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) "
        "  AS w(payment_id, customer_id)), "
        "live AS (SELECT DISTINCT ON (l.payment_id) l.payment_id, l.id FROM pay_links l "
        "  JOIN wanted w USING (payment_id) "
        "  WHERE l.revoked_at IS NULL AND l.expires_at > $3::timestamptz + interval '1 day' "
        "  ORDER BY l.payment_id, l.expires_at DESC), "
        "made AS (INSERT INTO pay_links (id, payment_id, customer_id, expires_at) "
        "  SELECT gen_random_uuid(), w.payment_id, w.customer_id, $3::timestamptz + $4::interval "
        "  FROM wanted w "
        "  WHERE NOT EXISTS (SELECT 1 FROM live WHERE live.payment_id = w.payment_id) "
        "  RETURNING payment_id, id) "
        "SELECT payment_id, id FROM live UNION ALL SELECT payment_id, id FROM made",
        list(payments),
        list(payments.values()),
        now,
        ttl,
    )
    return {row["payment_id"]: row["id"] for row in rows}


async def opened(executor: Executor, link_id: uuid.UUID) -> asyncpg.Record | None:
    """The link, marked opened now; None when there is no such link."""
    record: asyncpg.Record | None = await executor.fetchrow(
        "UPDATE pay_links SET opened_at = now() WHERE id = $1 "
        "RETURNING id, payment_id, customer_id, expires_at, revoked_at",
        link_id,
    )
    return record


async def revoke(executor: Executor, payment_id: uuid.UUID) -> int:
    """End every live link of the payment record; how many there were."""
    ended: int = await executor.fetchval(
        "WITH ended AS (UPDATE pay_links SET revoked_at = now() "
        "WHERE payment_id = $1 AND revoked_at IS NULL RETURNING 1) SELECT count(*) FROM ended",
        payment_id,
    )
    return ended
