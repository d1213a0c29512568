"""The `campaigns.customers` store."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from shared.db import Connection, Executor, escape_like, select_by_ids
from shared.paging import Page, keyset_page

COLUMNS = (
    "id, company_name, contact_name, email, phone, timezone, is_active, external_ref, "
    "contact_from, contact_until, created_at, updated_at"
)


async def insert(connection: Connection, fields: dict[str, Any]) -> asyncpg.Record | None:
    """The new customer, or None when `external_ref` is taken."""
    record: asyncpg.Record | None = await connection.fetchrow(
        "INSERT INTO customers (id, company_name, contact_name, email, phone, timezone, "
        "external_ref) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        f"ON CONFLICT (external_ref) DO NOTHING RETURNING {COLUMNS}",
        uuid.uuid4(),
        fields["company_name"],
        fields["contact_name"],
        fields.get("email"),
        fields.get("phone"),
        fields["timezone"],
        fields.get("external_ref"),
    )
    return record


async def get(executor: Executor, customer_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM customers WHERE id = $1", customer_id
    )
    return record


_UPDATABLE = (
    "company_name",
    "contact_name",
    "email",
    "phone",
    "timezone",
    "is_active",
    "external_ref",
    "contact_from",
    "contact_until",
)


async def update(
    connection: Connection, customer_id: uuid.UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    names = [name for name in _UPDATABLE if name in changes]
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    record: asyncpg.Record | None = await connection.fetchrow(
        f"UPDATE customers SET {assignments}{', ' if names else ''}updated_at = now() "
        f"WHERE id = $1 RETURNING {COLUMNS}",
        customer_id,
        *(changes[name] for name in names),
    )
    return record


async def page(
    executor: Executor, search: str | None, is_active: bool | None, limit: int, cursor: str | None
) -> Page:
    return await keyset_page(
        executor,
        COLUMNS,
        "customers t",
        "($1::text IS NULL OR lower(company_name) LIKE '%' || lower($1) || '%' "
        "OR lower(email) LIKE '%' || lower($1) || '%') AND ($2::boolean IS NULL OR is_active = $2)",
        [escape_like(search) if search else None, is_active],
        limit,
        cursor,
    )


async def get_many(connection: Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    """These customers, by id (the ids unknown are missing)."""
    return await select_by_ids(connection, COLUMNS, "customers", ids)
