"""The scheduler's reads and writes of `campaigns.step_runs`: due runs claimed with what the
agents need of them, stale ones found again, and their marks."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import Connection

# The claim's plan must not hang on the statistics: a bulk start makes thousands of campaigns
# active before autovacuum looks again, and a planner that still takes active campaigns for
# rare, asked for "an active campaign with this id", walks every active campaign for each run
# (3.5 million buffer reads for 500 runs). So every table is reached by its key alone: the
# run's campaign through a subquery on its id, the facts by the ids the due runs carry, and the
# campaign's status is read, not filtered on, after its row is locked.
_CAMPAIGN_ACTIVE = "(SELECT c.status FROM campaigns c WHERE c.id = r.campaign_id) = 'active'"
_RUN = "r.id, r.campaign_id, r.step_id, r.position, r.channel, r.due_at"
# The index on due_at (pending only) finds the due runs in order; only then are they joined
# with what the agents need. Sorting the join instead costs a scan of every pending run.
_DUE = f"""
WITH due AS (
    SELECT {_RUN}, r.attempts FROM step_runs r
    WHERE r.status = 'pending' AND r.due_at <= $2 AND {_CAMPAIGN_ACTIVE}
    ORDER BY r.due_at
    LIMIT $1
    FOR UPDATE OF r SKIP LOCKED
)
"""
# The pending runs due now of campaigns just started, whose rows the caller holds locked.
_STARTED = f"""
WITH due AS (
    SELECT {_RUN}, r.attempts FROM step_runs r
    WHERE r.campaign_id = ANY($1::uuid[]) AND r.status = 'pending' AND r.due_at <= $2
    FOR UPDATE OF r
)
"""
# Emitted runs whose result has not come back for a while: asked for again, with the attempt
# they were emitted as.
_STALE = f"""
WITH due AS (
    SELECT {_RUN}, r.attempts - 1 AS attempts FROM step_runs r
    WHERE r.status = 'emitted' AND r.updated_at < now() - make_interval(secs => $2)
      AND {_CAMPAIGN_ACTIVE}
    ORDER BY r.updated_at
    LIMIT $1
    FOR UPDATE OF r SKIP LOCKED
)
"""
# What the agents need of each run (its attempt number as it will be once emitted). A campaign
# being paused or ended right now is skipped (its row is locked); one paused or ended since
# the runs were found comes back with its new status.
_STEP_FACTS = """
SELECT due.id, due.campaign_id, due.step_id, due.position, due.channel, due.due_at,
       due.attempts, s.tone, s.template, s.conditions, c.status AS campaign_status,
       c.customer_id, c.payment_id, c.last_reply_at, c.start_request_id, c.start_traceparent,
       cu.company_name, cu.contact_name, cu.email, cu.phone, cu.timezone, cu.contact_from,
       cu.contact_until,
       p.invoice_number, p.amount, p.currency, p.due_date, p.amount_paid
FROM due
JOIN campaigns c ON c.id = due.campaign_id
JOIN campaign_steps s ON s.id = due.step_id
JOIN customers cu ON cu.id = c.customer_id
JOIN payments p ON p.id = c.payment_id
ORDER BY due.due_at
FOR SHARE OF c SKIP LOCKED
"""


async def claim_due(connection: Connection, batch_size: int, now: datetime) -> list[asyncpg.Record]:
    """Up to `batch_size` pending runs due by `now` of active campaigns, locked (others'
    skipped), oldest due first, with their step, campaign, customer and payment."""
    return _of_active(await connection.fetch(_DUE + _STEP_FACTS, batch_size, now))


async def claim_started(
    connection: Connection, campaign_ids: list[uuid.UUID], now: datetime
) -> list[asyncpg.Record]:
    """The pending runs due by `now` of campaigns started in this transaction, as `claim_due`
    reads them."""
    if not campaign_ids:
        return []
    return _of_active(await connection.fetch(_STARTED + _STEP_FACTS, campaign_ids, now))


async def stale(connection: Connection, batch_size: int, older_than_s: int) -> list[asyncpg.Record]:
    """Up to `batch_size` runs emitted over `older_than_s` ago with no result yet, locked, as
    `claim_due` reads them (with the attempt they were emitted as)."""
    return _of_active(await connection.fetch(_STALE + _STEP_FACTS, batch_size, older_than_s))


def _of_active(rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    """The runs whose campaign is still active now that it is locked; the others are left as
    they are (a paused campaign's runs wait for it)."""
    return [row for row in rows if row["campaign_status"] == "active"]


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
