"""The `campaigns.payments` store and its receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from shared.db import Connection, Executor, escape_like, select_by_id, select_by_ids
from shared.paging import Page, keyset_page

COLUMNS = (
    "id, customer_id, invoice_number, amount, currency, due_date, amount_paid, "
    "amount - amount_paid AS outstanding, status, created_at, updated_at"
)


async def insert(connection: Connection, fields: dict[str, Any]) -> asyncpg.Record | None:
    """The new payment record, or None when the customer already has that invoice number."""
    record: asyncpg.Record | None = await connection.fetchrow(
        "INSERT INTO payments (id, customer_id, invoice_number, amount, currency, due_date) "
        "VALUES ($1, $2, $3, $4, $5, $6) "
        f"ON CONFLICT (customer_id, invoice_number) DO NOTHING RETURNING {COLUMNS}",
        uuid.uuid4(),
        fields["customer_id"],
        fields["invoice_number"],
        fields["amount"],
        fields["currency"],
        fields["due_date"],
    )
    return record


async def get(
    executor: Executor, payment_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await select_by_id(executor, COLUMNS, "payments", payment_id, lock=lock)


async def page(
    executor: Executor,
    customer_id: uuid.UUID | None,
    status: str | None,
    invoice: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    return await keyset_page(
        executor,
        COLUMNS,
        "payments t",
        "($1::uuid IS NULL OR customer_id = $1) AND ($2::text IS NULL OR status = $2) "
        "AND ($3::text IS NULL OR lower(invoice_number) LIKE '%' || lower($3) || '%')",
        [customer_id, status, escape_like(invoice) if invoice else None],
        limit,
        cursor,
    )


async def record_receipt(
    connection: Connection,
    payment_id: uuid.UUID,
    amount: Decimal,
    received_at: datetime,
    reference: str | None,
    source: str = "manual",
    charged: Decimal | None = None,
) -> asyncpg.Record | None:
    """Add a receipt and bring the payment's amount paid and status up to date; None when
    the payment record already has a receipt with this reference."""
    if reference is not None and await connection.fetchval(
        "SELECT 1 FROM payment_receipts WHERE payment_id = $1 AND reference = $2",
        payment_id,
        reference,
    ):
        return None
    await connection.execute(
        "INSERT INTO payment_receipts "
        "(id, payment_id, amount, received_at, reference, source, charged) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        uuid.uuid4(),
        payment_id,
        amount,
        received_at,
        reference,
        source,
        charged if charged is not None and charged > amount else None,
    )
    record: asyncpg.Record | None = await connection.fetchrow(
        "UPDATE payments SET amount_paid = amount_paid + $2, "
        "status = CASE WHEN amount_paid + $2 >= amount THEN 'paid' ELSE 'partially_paid' END, "
        f"updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        payment_id,
        amount,
    )
    assert record is not None
    return record


async def set_status(connection: Connection, payment_id: uuid.UUID, status: str) -> asyncpg.Record:
    record: asyncpg.Record | None = await connection.fetchrow(
        f"UPDATE payments SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        payment_id,
        status,
    )
    assert record is not None
    return record


async def get_many(connection: Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """These payments, by id (the ids unknown are missing)."""
    return await select_by_ids(connection, COLUMNS, "payments", ids)


async def collected(executor: Executor, since: datetime, until: datetime) -> list[asyncpg.Record]:
    """Money received in `[since, until)`, per currency: the amount and how many receipts."""
    return await executor.fetch(
        "SELECT p.currency, sum(r.amount - r.refunded) AS amount, count(*) AS receipts "
        "FROM payment_receipts r JOIN payments p ON p.id = r.payment_id "
        "WHERE r.received_at >= $1 AND r.received_at < $2 GROUP BY p.currency ORDER BY p.currency",
        since,
        until,
    )


RECEIPT_COLUMNS = (
    "id, payment_id, amount, refunded, coalesce(charged, amount) AS charged, received_at, "
    "reference, source, created_at"
)


async def receipts_of(executor: Executor, payment_id: uuid.UUID) -> list[asyncpg.Record]:
    """The payment record's receipts, oldest first."""
    return list(
        await executor.fetch(
            f"SELECT {RECEIPT_COLUMNS} FROM payment_receipts WHERE payment_id = $1 "
            "ORDER BY received_at, id",
            payment_id,
        )
    )


async def refund(
    connection: Connection, source: str, reference: str, refunded_in_all: Decimal
) -> asyncpg.Record | None:
    """The provider refunded `refunded_in_all` of the receipt it knows by `reference`: the
    receipt and its payment record brought down by what is new (the payment record as it is
    now); None when no such receipt, or nothing new."""
    receipt = await connection.fetchrow(
        f"SELECT {RECEIPT_COLUMNS} FROM payment_receipts WHERE source = $1 AND reference = $2 "
        "FOR UPDATE",
        source,
        reference,
    )
    if receipt is None:
        return None
    # What was charged beyond the debt goes back first; only the rest comes off the receipt.
    beyond = receipt["charged"] - receipt["amount"]
    owed_back = min(max(refunded_in_all - beyond, Decimal(0)), receipt["amount"])
    new = owed_back - receipt["refunded"]
    if new <= 0:
        return None
    await connection.execute(
        "UPDATE payment_receipts SET refunded = refunded + $2 WHERE id = $1", receipt["id"], new
    )
    record: asyncpg.Record | None = await connection.fetchrow(
        "UPDATE payments SET amount_paid = amount_paid - $2, "
        "status = CASE WHEN status IN ('disputed', 'written_off') THEN status "
        "WHEN amount_paid - $2 <= 0 THEN 'open' ELSE 'partially_paid' END, "
        f"updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        receipt["payment_id"],
        new,
    )
    return record
