"""The `campaigns.payment_plans` store, with each plan's `plan_instalments`."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import asyncpg

from services.campaigns.domain.plans import Every, Instalment
from shared.db import Connection, Executor

PLAN_COLUMNS = (
    "p.id, p.payment_id, p.customer_id, p.campaign_id, p.every, p.total, p.currency, p.status, "
    "p.created_at, p.ended_at, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'number', i.number, "
    "'due_date', i.due_date, 'amount', i.amount, 'status', i.status, 'linked_at', i.linked_at, "
    "'paid_at', i.paid_at) ORDER BY i.number), '[]'::jsonb) "
    "FROM plan_instalments i WHERE i.plan_id = p.id) AS instalments"
)
INSTALMENT_COLUMNS = "i.id, i.plan_id, i.number, i.due_date, i.amount, i.status"


async def create(
    connection: Connection,
    payment: asyncpg.Record,
    campaign_id: uuid.UUID | None,
    every: Every,
    made: list[Instalment],
) -> uuid.UUID | None:
    """The plan and its instalments; None when the payment record has an active plan already."""
    plan_id: uuid.UUID | None = await connection.fetchval(
        "INSERT INTO payment_plans (id, payment_id, customer_id, campaign_id, every, total, "
        "currency) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (payment_id) WHERE status = 'active' DO NOTHING RETURNING id",
        uuid.uuid4(),
        payment["id"],
        payment["customer_id"],
        campaign_id,
        every,
        sum((i.amount for i in made), Decimal("0.00")),
        payment["currency"],
    )
    if plan_id is None:
        return None
    await connection.executemany(
        "INSERT INTO plan_instalments (id, plan_id, number, due_date, amount) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(uuid.uuid4(), plan_id, i.number, i.due_date, i.amount) for i in made],
    )
    return plan_id


async def of_payment(executor: Executor, payment_id: uuid.UUID) -> list[asyncpg.Record]:
    """The payment record's plans, newest first, each with its instalments."""
    return list(
        await executor.fetch(
            f"SELECT {PLAN_COLUMNS} FROM payment_plans p WHERE p.payment_id = $1 "
            "ORDER BY p.created_at DESC",
            payment_id,
        )
    )


async def active_of(executor: Executor, payment_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {PLAN_COLUMNS} FROM payment_plans p "
        "WHERE p.payment_id = $1 AND p.status = 'active'",
        payment_id,
    )
    return record


async def active_for(executor: Executor, payment_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these payment records have an active plan."""
    rows = await executor.fetch(
        "SELECT payment_id FROM payment_plans WHERE payment_id = ANY($1::uuid[]) "
        "AND status = 'active'",
        payment_ids,
    )
    return {row["payment_id"] for row in rows}


async def next_due(executor: Executor, payment_id: uuid.UUID) -> asyncpg.Record | None:
    """The first instalment still to pay of the payment record's active plan."""
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {INSTALMENT_COLUMNS} FROM plan_instalments i "
        "JOIN payment_plans p ON p.id = i.plan_id "
        "WHERE p.payment_id = $1 AND p.status = 'active' AND i.status = 'due' "
        "ORDER BY i.number LIMIT 1",
        payment_id,
    )
    return record


async def settle(connection: Connection, payment_id: uuid.UUID, now: datetime) -> bool:
    """Mark paid each instalment of the record's active plan that the money received since
    the plan began covers, in order (by whatever means it came: an instalment's checkout, a
    payment in full, a transfer recorded by hand); the plan completes once all are. Whether it
    completed now."""
    completed: uuid.UUID | None = await connection.fetchval(
        "WITH plan AS (SELECT id, created_at FROM payment_plans "
        "  WHERE payment_id = $1 AND status = 'active' FOR UPDATE), "
        "received AS (SELECT coalesce(sum(r.amount - r.refunded), 0) AS total "
        "  FROM payment_receipts r, plan WHERE r.payment_id = $1 "
        "  AND r.created_at >= plan.created_at), "
        "covered AS (SELECT i.id, i.status, sum(i.amount) OVER (ORDER BY i.number) AS upto "
        "  FROM plan_instalments i JOIN plan ON i.plan_id = plan.id), "
        "paid AS (UPDATE plan_instalments i SET status = 'paid', paid_at = $2 "
        "  FROM covered, received WHERE i.id = covered.id AND i.status = 'due' "
        "  AND covered.upto <= received.total RETURNING i.id) "
        "UPDATE payment_plans p SET status = 'completed', ended_at = $2 FROM plan "
        "WHERE p.id = plan.id AND NOT EXISTS (SELECT 1 FROM covered "
        "  WHERE covered.status = 'due' AND covered.id NOT IN (SELECT id FROM paid)) "
        "RETURNING p.id",
        payment_id,
        now,
    )
    return completed is not None


async def end_active(
    connection: Connection, payment_id: uuid.UUID, status: str, now: datetime
) -> bool:
    """End the payment record's active plan (`completed` once paid, `cancelled`); whether
    there was one."""
    ended: uuid.UUID | None = await connection.fetchval(
        "UPDATE payment_plans SET status = $2, ended_at = $3 "
        "WHERE payment_id = $1 AND status = 'active' RETURNING id",
        payment_id,
        status,
        now,
    )
    return ended is not None


# Instalments of active plans with their customer's zone and contact hours, locked (others'
# skipped), when the debt is still chased: not paid, written off or disputed, the customer
# active.
_INSTALMENTS = """
SELECT i.id, i.plan_id, i.number, i.due_date, i.amount, p.payment_id, p.customer_id,
       p.campaign_id, p.currency, pay.invoice_number, cu.company_name, cu.contact_name,
       cu.email, cu.phone, cu.timezone, cu.contact_from, cu.contact_until
FROM plan_instalments i
JOIN payment_plans p ON p.id = i.plan_id
JOIN payments pay ON pay.id = p.payment_id
JOIN customers cu ON cu.id = p.customer_id
WHERE i.status = 'due' AND p.status = 'active' AND cu.is_active
  AND pay.status NOT IN ('paid', 'written_off', 'disputed')
"""
# Those whose day has come in the customer's zone, their link not sent yet.
_COME_DUE = (
    _INSTALMENTS
    + """  AND i.linked_at IS NULL AND (i.link_after IS NULL OR i.link_after <= $2)
  AND i.due_date <= ($2::timestamptz AT TIME ZONE cu.timezone)::date
ORDER BY i.due_date LIMIT $1 FOR UPDATE OF i, p SKIP LOCKED"""
)
# Those unpaid `$3` days after their day or (sent later, the window being closed) after their
# link was sent: the debtor always had the grace days with the link in hand.
_MISSED = (
    _INSTALMENTS
    + """  AND i.linked_at IS NOT NULL
  AND greatest(i.due_date, (i.linked_at AT TIME ZONE cu.timezone)::date)
      < ($2::timestamptz AT TIME ZONE cu.timezone)::date - $3::integer
ORDER BY i.due_date LIMIT $1 FOR UPDATE OF i, p SKIP LOCKED"""
)


async def come_due(connection: Connection, batch_size: int, now: datetime) -> list[asyncpg.Record]:
    """Instalments whose day has come in their customer's zone, not yet linked."""
    return list(await connection.fetch(_COME_DUE, batch_size, now))


async def missed(
    connection: Connection, batch_size: int, grace_days: int, now: datetime
) -> list[asyncpg.Record]:
    """Instalments unpaid more than `grace_days` after their day (or their link, if later)."""
    return list(await connection.fetch(_MISSED, batch_size, now, grace_days))


async def postpone_links(connection: Connection, later: list[tuple[uuid.UUID, datetime]]) -> None:
    """Each instalment's link waits for its customer's window to open (others go first)."""
    await connection.executemany("UPDATE plan_instalments SET link_after = $2 WHERE id = $1", later)


async def mark_linked(connection: Connection, instalment_ids: list[uuid.UUID]) -> None:
    await connection.execute(
        "UPDATE plan_instalments SET linked_at = now() WHERE id = ANY($1::uuid[])",
        instalment_ids,
    )


async def mark_missed(connection: Connection, instalment: asyncpg.Record, now: datetime) -> None:
    """The instalment and its plan (both locked by `missed`, so still due and active)."""
    await connection.execute(
        "WITH missed AS (UPDATE plan_instalments SET status = 'missed' WHERE id = $1) "
        "UPDATE payment_plans SET status = 'missed', ended_at = $3 WHERE id = $2",
        instalment["id"],
        instalment["plan_id"],
        now,
    )
