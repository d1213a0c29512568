"""The scheduler's reads and writes of `campaigns.step_runs`: due runs claimed with what the
agents need of them, stale ones found again, and their marks."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Connection

# Notified when runs are created, so that the scheduler takes a campaign started now at once
# rather than at its next tick.
RUNS_CREATED = "campaigns_runs_created"

# The index on due_at (pending only) finds the due runs in order; only then are they joined
# with what the agents need. Sorting the join instead costs a scan of every pending run.
_DUE = """
WITH due AS (
    SELECT r.id FROM step_runs r
    WHERE r.status = 'pending' AND r.due_at <= $2
      AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id AND c.status = 'active')
    ORDER BY r.due_at
    LIMIT $1
    FOR UPDATE OF r SKIP LOCKED
)
"""
# Emitted runs whose result has not come back for a while: asked for again, same attempt.
_STALE = """
WITH due AS (
    SELECT r.id FROM step_runs r
    WHERE r.status = 'emitted' AND r.updated_at < now() - make_interval(secs => $2)
      AND EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id AND c.status = 'active')
    ORDER BY r.updated_at
    LIMIT $1
    FOR UPDATE OF r SKIP LOCKED
)
"""
# What the agents need of each run (its attempt number as it will be once emitted).
_STEP_FACTS = """
SELECT r.id, r.campaign_id, r.step_id, r.position, r.channel, r.due_at, r.attempts,
       s.tone, s.template, s.conditions, c.customer_id, c.payment_id, c.last_reply_at,
       c.start_request_id, c.start_traceparent,
       cu.company_name, cu.contact_name, cu.email, cu.phone, cu.timezone, cu.contact_from,
       cu.contact_until,
       p.invoice_number, p.amount, p.currency, p.due_date, p.amount_paid
FROM due
JOIN step_runs r ON r.id = due.id
JOIN campaigns c ON c.id = r.campaign_id
JOIN campaign_steps s ON s.id = r.step_id
JOIN customers cu ON cu.id = c.customer_id
JOIN payments p ON p.id = c.payment_id
WHERE c.status = 'active'
ORDER BY r.due_at
FOR SHARE OF c SKIP LOCKED
"""
_CLAIM = _DUE + _STEP_FACTS
_REDRIVE = _STALE + _STEP_FACTS.replace("r.attempts,", "r.attempts - 1 AS attempts,", 1)


async def claim_due(connection: Connection, batch_size: int, now: datetime) -> list[asyncpg.Record]:
    """Up to `batch_size` pending runs due by `now` of active campaigns, locked (others'
    skipped), oldest due first, with their step, campaign, customer and payment."""
    return list(await connection.fetch(_CLAIM, batch_size, now))


async def stale(connection: Connection, batch_size: int, older_than_s: int) -> list[asyncpg.Record]:
    """Up to `batch_size` runs emitted over `older_than_s` ago with no result yet, locked, as
    `claim_due` reads them (with the attempt they were emitted as)."""
    return list(await connection.fetch(_REDRIVE, batch_size, older_than_s))


async def mark_emitted(connection: Connection, run_ids: list[uuid.UUID]) -> None:
    await connection.execute(
        "UPDATE step_runs SET status = 'emitted', emitted_at = now(), attempts = attempts + 1, "
        "updated_at = now() WHERE id = ANY($1::uuid[])",
        run_ids,
    )


async def postpone(connection: Connection, later: list[tuple[uuid.UUID, datetime]]) -> None:
    """Each run's new due time (outside the contact window now)."""
    await connection.executemany(
        "UPDATE step_runs SET due_at = $2, updated_at = now() WHERE id = $1", later
    )


async def touch(connection: Connection, run_ids: list[uuid.UUID]) -> None:
    """Emitted again just now: stale again only `older_than_s` from now."""
    await connection.execute(
        "UPDATE step_runs SET updated_at = now() WHERE id = ANY($1::uuid[])", run_ids
    )
