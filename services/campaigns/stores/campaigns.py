"""The `campaigns.campaigns` store, with escalation steps and step runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from shared.db import Connection, Executor, rows_affected, select_by_id, select_by_ids, update_by_id
from shared.paging import Page, keyset_page

COLUMNS = (
    "t.id, t.name, t.customer_id, t.payment_id, t.status, t.start_at, t.started_at, t.ended_at, "
    "t.paused_at, t.paused_until, t.pause_reason, t.flagged, t.plan_terms, t.created_at, "
    "t.updated_at, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('position', s.position, 'channel', s.channel, "
    "'delay_seconds', extract(epoch FROM s.delay), 'tone', s.tone, 'template', s.template, "
    "'conditions', s.conditions) "
    "ORDER BY s.position), '[]'::jsonb) FROM campaign_steps s WHERE s.campaign_id = t.id) AS steps"
)


async def insert(
    connection: Connection, fields: dict[str, Any], created_by: uuid.UUID
) -> uuid.UUID:
    campaign_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO campaigns (id, name, customer_id, payment_id, start_at, created_by, "
        "plan_terms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        campaign_id,
        fields["name"],
        fields["customer_id"],
        fields["payment_id"],
        fields.get("start_at"),
        created_by,
        fields.get("plan_terms"),
    )
    await connection.executemany(
        "INSERT INTO campaign_steps "
        "(id, campaign_id, position, channel, delay, tone, template, conditions) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (
                uuid.uuid4(),
                campaign_id,
                position,
                s["channel"],
                s["delay"],
                s["tone"],
                s.get("template"),
                {
                    "minOutstanding": str(s["conditions"]["min_outstanding"])
                    if s["conditions"]["min_outstanding"] is not None
                    else None,
                    "skipIfReplied": s["conditions"]["skip_if_replied"],
                },
            )
            for position, s in enumerate(fields["steps"], start=1)
        ],
    )
    return campaign_id


async def get(
    executor: Executor, campaign_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await select_by_id(executor, COLUMNS, "campaigns", campaign_id, lock=lock)


async def page(
    executor: Executor,
    customer_id: uuid.UUID | None,
    payment_id: uuid.UUID | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    return await keyset_page(
        executor,
        COLUMNS,
        "campaigns t",
        "($1::uuid IS NULL OR t.customer_id = $1) AND ($2::uuid IS NULL OR t.payment_id = $2) "
        "AND ($3::text IS NULL OR t.status = $3)",
        [customer_id, payment_id, status],
        limit,
        cursor,
    )


async def latest_of(executor: Executor, payment_id: uuid.UUID) -> uuid.UUID | None:
    """The payment record's most recent campaign (running ones first), if any."""
    found: uuid.UUID | None = await executor.fetchval(
        "SELECT id FROM campaigns WHERE payment_id = $1 "
        "ORDER BY status IN ('scheduled', 'active', 'paused') DESC, created_at DESC LIMIT 1",
        payment_id,
    )
    return found


async def running_for(
    connection: Connection,
    *,
    customer_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Ids of the customer's (or payment's) campaigns still scheduled, active or paused, locked."""
    rows = await connection.fetch(
        "SELECT id FROM campaigns WHERE status IN ('scheduled', 'active', 'paused') "
        "AND ($1::uuid IS NULL OR customer_id = $1) AND ($2::uuid IS NULL OR payment_id = $2) "
        "ORDER BY id FOR UPDATE",
        customer_id,
        payment_id,
    )
    return [row["id"] for row in rows]


async def set_state(connection: Connection, campaign_id: uuid.UUID, **fields: Any) -> None:
    await update_by_id(connection, "campaigns", campaign_id, fields)


async def steps(executor: Executor, campaign_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await executor.fetch(
            "SELECT id, position, channel, delay, tone, template FROM campaign_steps "
            "WHERE campaign_id = $1 ORDER BY position",
            campaign_id,
        )
    )


async def mark_started(
    connection: Connection,
    campaign_ids: list[uuid.UUID],
    now: datetime,
    request_id: str | None,
    traceparent: str | None,
) -> None:
    """Campaigns that became active now, with the request that started them (for tracing)."""
    await connection.execute(
        "UPDATE campaigns SET status = 'active', started_at = $2, start_request_id = $3, "
        "start_traceparent = $4, updated_at = now() WHERE id = ANY($1::uuid[])",
        campaign_ids,
        now,
        request_id,
        traceparent,
    )


async def mark_scheduled(
    connection: Connection,
    campaign_ids: list[uuid.UUID],
    request_id: str | None,
    traceparent: str | None,
) -> None:
    """Campaigns that start at their `startAt`."""
    await connection.execute(
        "UPDATE campaigns SET status = 'scheduled', start_request_id = $2, "
        "start_traceparent = $3, updated_at = now() WHERE id = ANY($1::uuid[])",
        campaign_ids,
        request_id,
        traceparent,
    )


async def steps_of(executor: Executor, campaign_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """The steps of several campaigns, each campaign's in order."""
    found: dict[uuid.UUID, list[Any]] = {campaign_id: [] for campaign_id in campaign_ids}
    for row in await executor.fetch(
        "SELECT campaign_id, id, position, channel, delay, tone, template, conditions "
        "FROM campaign_steps WHERE campaign_id = ANY($1::uuid[]) ORDER BY campaign_id, position",
        campaign_ids,
    ):
        found[row["campaign_id"]].append(row)
    return found


class NewRun(NamedTuple):
    """A step run to create (its fields in the insert's column order)."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: uuid.UUID
    position: int
    channel: str
    due_at: datetime
    emitted: bool  # its `campaign.step_due` is written in this transaction: emitted, attempt 1


async def create_runs(connection: Connection, runs: list[NewRun]) -> None:
    """One run per step: pending, or emitted already."""
    if not runs:
        return
    await connection.execute(
        "INSERT INTO step_runs "
        "(id, campaign_id, step_id, position, channel, due_at, status, attempts, emitted_at) "
        "SELECT r.id, r.campaign_id, r.step_id, r.position, r.channel, r.due_at, "
        "CASE WHEN r.emitted THEN 'emitted' ELSE 'pending' END, r.emitted::int, "
        "CASE WHEN r.emitted THEN now() END "
        "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], "
        "$6::timestamptz[], $7::bool[]) AS r(id, campaign_id, step_id, position, channel, due_at, "
        "emitted)",
        *(list(column) for column in zip(*runs, strict=True)),
    )


async def runs(executor: Executor, campaign_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await executor.fetch(
            "SELECT id, position, channel, due_at, status, attempts, outcome, last_error "
            "FROM step_runs WHERE campaign_id = $1 ORDER BY position",
            campaign_id,
        )
    )


async def stop_pending_runs(
    connection: Connection,
    campaign_id: uuid.UUID,
    status: str,
    outcome: str,
    channels: tuple[str, ...] | None = None,
) -> int:
    """Pending (and emitted, unfinished) runs become `status`, saying why; returns how many."""
    result = await connection.execute(
        "UPDATE step_runs SET status = $2, outcome = $4, finished_at = now(), updated_at = now() "
        "WHERE campaign_id = $1 AND status IN ('pending', 'emitted') "
        "AND ($3::text[] IS NULL OR channel = ANY($3))",
        campaign_id,
        status,
        list(channels) if channels else None,
        outcome,
    )
    return rows_affected(result)


async def skip_run(connection: Connection, run_id: uuid.UUID, outcome: str) -> None:
    """A run that will not be worked (its message refused for good) is `skipped`, saying why."""
    await connection.execute(
        "UPDATE step_runs SET status = 'skipped', outcome = $2, finished_at = now(), "
        "updated_at = now() WHERE id = $1",
        run_id,
        outcome,
    )


async def completion_states(
    connection: Connection, campaign_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """These campaigns' id, status, customer and payment, row-locked in id order, and
    `runs_left`: whether a step run of theirs is still pending or emitted."""
    return list(
        await connection.fetch(
            "SELECT c.id, c.status, c.customer_id, c.payment_id, EXISTS (SELECT 1 FROM "
            "step_runs r WHERE r.campaign_id = c.id AND r.status IN ('pending', 'emitted')) "
            "AS runs_left FROM campaigns c WHERE c.id = ANY($1::uuid[]) ORDER BY c.id "
            "FOR UPDATE OF c",
            campaign_ids,
        )
    )


async def set_ended(
    connection: Connection, campaign_ids: list[uuid.UUID], status: str, ended_at: datetime
) -> None:
    await connection.execute(
        "UPDATE campaigns SET status = $2, ended_at = $3, updated_at = now() "
        "WHERE id = ANY($1::uuid[])",
        campaign_ids,
        status,
        ended_at,
    )


async def finish_runs(
    connection: Connection, outcomes: dict[uuid.UUID, str]
) -> dict[uuid.UUID, uuid.UUID]:
    """Step runs whose work is done, each with its outcome, if still pending or emitted (not
    settled meanwhile, say cancelled by a payment); the finished ones' campaigns, by run."""
    rows = await connection.fetch(
        "UPDATE step_runs r SET status = 'completed', outcome = d.outcome, finished_at = now(), "
        "updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS d(id, outcome) "
        "WHERE r.id = d.id AND r.status IN ('pending', 'emitted') RETURNING r.id, r.campaign_id",
        list(outcomes),
        list(outcomes.values()),
    )
    return {row["id"]: row["campaign_id"] for row in rows}


async def activate_due(connection: Connection, now: datetime) -> list[asyncpg.Record]:
    """Scheduled campaigns whose start time has come (500 at most, others' skipped) become
    active; each one's id, customer_id, payment_id and started_at."""
    return list(
        await connection.fetch(
            "UPDATE campaigns SET status = 'active', started_at = $1, updated_at = now() "
            "WHERE id IN (SELECT id FROM campaigns WHERE status = 'scheduled' AND start_at <= $1 "
            "ORDER BY start_at LIMIT 500 FOR UPDATE SKIP LOCKED) "
            "RETURNING id, customer_id, payment_id, started_at",
            now,
        )
    )


async def lock_wakeable(connection: Connection, now: datetime) -> list[uuid.UUID]:
    """Paused campaigns whose `paused_until` has come (500 at most, others' skipped), locked."""
    rows = await connection.fetch(
        "SELECT id FROM campaigns WHERE status = 'paused' AND paused_until <= $1 "
        "ORDER BY paused_until LIMIT 500 FOR UPDATE SKIP LOCKED",
        now,
    )
    return [row["id"] for row in rows]


async def lock_run(connection: Connection, run_id: uuid.UUID) -> asyncpg.Record | None:
    """A step run's id, campaign_id, status, attempts and channel, locked."""
    row: asyncpg.Record | None = await connection.fetchrow(
        "SELECT id, campaign_id, status, attempts, channel FROM step_runs WHERE id = $1 FOR UPDATE",
        run_id,
    )
    return row


async def set_run_due(connection: Connection, run_id: uuid.UUID, due: datetime) -> None:
    await connection.execute("UPDATE step_runs SET due_at = $2 WHERE id = $1", run_id, due)


async def retry_run(connection: Connection, run_id: uuid.UUID, due: datetime, error: str) -> None:
    """A failed run is pending again, due at `due`, with the failure kept as its last error."""
    await connection.execute(
        "UPDATE step_runs SET status = 'pending', due_at = $2, last_error = $3, "
        "updated_at = now() WHERE id = $1",
        run_id,
        due,
        error,
    )


async def fail_run(connection: Connection, run_id: uuid.UUID, error: str) -> None:
    await connection.execute(
        "UPDATE step_runs SET status = 'failed', last_error = $2, finished_at = now(), "
        "updated_at = now() WHERE id = $1",
        run_id,
        error,
    )


async def lock_to_start(
    connection: Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    """These campaigns, by id, locked, with what starting them reads (the ids unknown are
    missing)."""
    return await select_by_ids(
        connection,
        "t.id, t.customer_id, t.payment_id, t.status, t.start_at, t.last_reply_at",
        "campaigns",
        ids,
        lock=True,
    )
