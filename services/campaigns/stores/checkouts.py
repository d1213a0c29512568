"""The `campaigns.checkouts` store (the debtor's attempts to pay through the provider) and
`campaigns.provider_events` (the provider's webhook deliveries, handled once each)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg

from shared.db import Connection, Executor

COLUMNS = (
    "id, payment_id, link_id, provider, provider_session_id, checkout_url, amount, currency, "
    "status, created_at, completed_at, instalment_id"
)
# A provider's hosted checkout stays payable for a day (Stripe's sessions expire after 24 h).
REUSABLE_FOR = "20 hours"


async def open_checkout(
    executor: Executor,
    payment_id: uuid.UUID,
    link_id: uuid.UUID,
    provider: str,
    amount: Decimal,
    currency: str,
    instalment_id: uuid.UUID | None,
) -> asyncpg.Record:
    """A new attempt to pay `amount`: what is outstanding, or one instalment of a plan."""
    record: asyncpg.Record | None = await executor.fetchrow(
        "INSERT INTO checkouts (id, payment_id, link_id, provider, amount, currency, "
        f"instalment_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}",
        uuid.uuid4(),
        payment_id,
        link_id,
        provider,
        amount,
        currency,
        instalment_id,
    )
    assert record is not None
    return record


async def set_session(
    executor: Executor, checkout_id: uuid.UUID, session_id: str, url: str
) -> None:
    await executor.execute(
        "UPDATE checkouts SET provider_session_id = $2, checkout_url = $3 WHERE id = $1",
        checkout_id,
        session_id,
        url,
    )


async def open_for(
    executor: Executor, payment_id: uuid.UUID, provider: str, instalment_id: uuid.UUID | None
) -> asyncpg.Record | None:
    """The payment record's newest checkout for the same thing (what is outstanding, or this
    instalment) still open with this provider and young enough to pay, if any."""
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM checkouts WHERE payment_id = $1 AND provider = $2 "
        "AND instalment_id IS NOT DISTINCT FROM $3 AND status = 'open' "
        "AND checkout_url IS NOT NULL "
        f"AND created_at > now() - interval '{REUSABLE_FOR}' ORDER BY created_at DESC LIMIT 1",
        payment_id,
        provider,
        instalment_id,
    )
    return record


async def of_payment(
    executor: Executor, checkout_id: uuid.UUID, payment_id: uuid.UUID
) -> asyncpg.Record | None:
    """The checkout, when it is one of this payment record's, with the number of the plan
    instalment it pays (if any)."""
    record: asyncpg.Record | None = await executor.fetchrow(
        "SELECT c.id, c.amount, c.currency, c.status, i.number AS instalment_number "
        "FROM checkouts c LEFT JOIN plan_instalments i ON i.id = c.instalment_id "
        "WHERE c.id = $1 AND c.payment_id = $2",
        checkout_id,
        payment_id,
    )
    return record


async def locked(
    connection: Connection, *, checkout_id: uuid.UUID | None = None, session_id: str | None = None
) -> asyncpg.Record | None:
    """The checkout, by our ID or the provider's session ID, locked until the transaction ends."""
    record: asyncpg.Record | None = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM checkouts WHERE id = $1 OR provider_session_id = $2 FOR UPDATE",
        checkout_id,
        session_id,
    )
    return record


async def settle(connection: Connection, checkout_id: uuid.UUID, status: str) -> None:
    await connection.execute(
        "UPDATE checkouts SET status = $2, completed_at = now() WHERE id = $1",
        checkout_id,
        status,
    )


async def expire_open(connection: Connection, payment_id: uuid.UUID) -> list[asyncpg.Record]:
    """End the payment record's open checkouts; those with a provider session, to expire
    there too."""
    return list(
        await connection.fetch(
            "UPDATE checkouts SET status = 'expired', completed_at = now() "
            "WHERE payment_id = $1 AND status = 'open' "
            "RETURNING id, provider, provider_session_id",
            payment_id,
        )
    )


async def first_delivery(
    connection: Connection, provider: str, event_id: str, event_type: str
) -> bool:
    """Whether this is the first time the provider's event arrives (it is recorded now)."""
    inserted: str | None = await connection.fetchval(
        "INSERT INTO provider_events (provider, event_id, event_type) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING event_id",
        provider,
        event_id,
        event_type,
    )
    return inserted is not None
