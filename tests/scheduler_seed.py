"""A private copy of the campaigns schema with many due step runs, for scheduler tests and the
benchmark: no live scheduler competes there unless the test starts one."""

from __future__ import annotations

import uuid
from datetime import time, timedelta

from services.campaigns.domain.contact_window import ContactWindow
from services.campaigns.scheduler import PayLinks
from shared.db import connect
from shared.migrations import migrate, service_migrations
from shared.settings import ServiceSettings


async def seed_due_runs(settings: ServiceSettings, runs: int, per_campaign: int = 1) -> str:
    """A fresh schema with `runs` pending step runs, all due now; returns its name."""
    schema = f"sched_{uuid.uuid4().hex[:10]}"
    connection = await connect(settings.database_url, schema)
    try:
        await migrate(connection, schema, service_migrations("services.campaigns"))
        campaigns = max(1, runs // per_campaign)
        await connection.execute(
            """
            WITH c AS (
                INSERT INTO customers (id, company_name, contact_name, email, phone, timezone)
                SELECT gen_random_uuid(), 'Co ' || n, 'Contact', 'c' || n || '@example.com',
                       '+14155552671', 'UTC'
                FROM generate_series(1, $1) n RETURNING id
            ), p AS (
                INSERT INTO payments (id, customer_id, invoice_number, amount, currency, due_date)
                SELECT gen_random_uuid(), id, 'INV-1', 100, 'EUR', current_date FROM c
                RETURNING id, customer_id
            ), k AS (
                INSERT INTO campaigns (id, name, customer_id, payment_id, status, started_at)
                SELECT gen_random_uuid(), 'bench', customer_id, id, 'active', now() FROM p
                RETURNING id
            ), s AS (
                INSERT INTO campaign_steps (id, campaign_id, position, channel, delay)
                SELECT gen_random_uuid(), k.id, pos, 'email', make_interval(mins => pos)
                FROM k, generate_series(1, $2) pos
                RETURNING id, campaign_id, position
            )
            INSERT INTO step_runs (id, campaign_id, step_id, position, channel, due_at)
            SELECT gen_random_uuid(), campaign_id, id, position, 'email', now() - interval '1 second'
            FROM s
            """,
            campaigns,
            per_campaign,
        )
    finally:
        await connection.close()
    return schema


async def drop_schema(settings: ServiceSettings, schema: str) -> None:
    connection = await connect(settings.database_url, "public")
    try:
        await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await connection.close()


# Tests and the benchmark measure claiming, not the contact window: it is always open here.
ALWAYS_OPEN = ContactWindow(
    opens=time(0), closes=time(23, 59, 59, 999999), weekdays=frozenset(range(7))
)
# The debtor's links the seeded steps carry.
LINKS = PayLinks("https://remit.example", timedelta(days=30))
