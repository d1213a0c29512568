"""The `agents.tasks` store: the work queue."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.context import request_id_var
from shared.db import Connection, Executor, rows_affected, select_by_id, update_by_id
from shared.events import Envelope
from shared.paging import Page, keyset_page
from shared.tracing import current_traceparent

COLUMNS = (
    "t.id, t.campaign_id, t.step_run_id, t.step_attempt, t.customer_id, t.channel, t.status, "
    "t.assigned_agent_id, t.attempts, t.last_error, t.outcome, t.promised_date, t.note, t.step, "
    "t.created_at, t.updated_at, t.request_id, t.traceparent, t.message_requested_at, "
    "t.retryable, t.message_request"
)
# What an event about a task says of it (`services.agents.events`): a write that only announces
# the task returns these, not the step it carries.
EVENT_COLUMNS = "t.id, t.campaign_id, t.step_run_id, t.customer_id, t.channel"
OPEN = ("pending", "assigned", "in_progress")
# A task as read from its row, or as it will read once opened (`NewTask.as_row`).
TaskRow = asyncpg.Record | Mapping[str, Any]


@dataclass(frozen=True)
class NewTask:
    """A task to open for a step run's attempt, in the request and trace current when made.

    It opens pending, or already given to `agent_id`, or already in progress with its
    message requested (`message_request`, the `message.requested` event; its payload is kept
    with the task)."""

    campaign_id: uuid.UUID
    step_run_id: uuid.UUID
    attempt: int
    customer_id: uuid.UUID
    channel: str
    step: dict[str, Any]  # kept whole: the agent composes from it
    request_id: str | None = field(default_factory=request_id_var.get)
    traceparent: str | None = field(default_factory=current_traceparent)
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    agent_id: uuid.UUID | None = None
    message_request: Envelope | None = None

    def as_row(self) -> dict[str, Any]:
        """The task as its row will read once opened (before any send try)."""
        return {
            "id": self.id,
            "campaign_id": self.campaign_id,
            "step_run_id": self.step_run_id,
            "step_attempt": self.attempt,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "step": self.step,
            "attempts": 0,
            "request_id": self.request_id,
            "traceparent": self.traceparent,
        }


async def insert_many(connection: Connection, new: list[NewTask]) -> list[asyncpg.Record | None]:
    """Open these tasks in one statement; for each, the task (its `EVENT_COLUMNS`), or None
    when its step run (and attempt) already has one or its campaign has ended."""
    ids = [task.id for task in new]
    rows = await connection.fetch(
        "INSERT INTO tasks "
        "(id, campaign_id, step_run_id, step_attempt, customer_id, channel, step, request_id, "
        "traceparent, assigned_agent_id, message_request, status, message_requested_at) "
        "SELECT n.id, n.campaign_id, n.step_run_id, n.step_attempt, n.customer_id, n.channel, "
        "n.step, n.request_id, n.traceparent, n.agent_id, n.request, "
        "CASE WHEN n.request IS NOT NULL THEN 'in_progress' "
        "WHEN n.agent_id IS NOT NULL THEN 'assigned' ELSE 'pending' END, "
        "CASE WHEN n.request IS NOT NULL THEN now() END "
        "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::uuid[], $6::text[], "
        "$7::jsonb[], $8::text[], $9::text[], $10::uuid[], $11::jsonb[]) WITH ORDINALITY AS "
        "n(id, campaign_id, step_run_id, step_attempt, customer_id, channel, step, request_id, "
        "traceparent, agent_id, request, ord) "
        "WHERE NOT EXISTS (SELECT 1 FROM ended_campaigns e WHERE e.campaign_id = n.campaign_id) "
        "ORDER BY n.ord "
        "ON CONFLICT (step_run_id, step_attempt) DO NOTHING "
        f"RETURNING {EVENT_COLUMNS.replace('t.', '')}",
        ids,
        [task.campaign_id for task in new],
        [task.step_run_id for task in new],
        [task.attempt for task in new],
        [task.customer_id for task in new],
        [task.channel for task in new],
        [task.step for task in new],
        [task.request_id for task in new],
        [task.traceparent for task in new],
        [task.agent_id for task in new],
        [task.message_request.payload if task.message_request else None for task in new],
    )
    inserted = {row["id"]: row for row in rows}
    return [inserted.get(task_id) for task_id in ids]


async def for_step(
    connection: Connection, step_run_id: uuid.UUID, attempt: int
) -> asyncpg.Record | None:
    """The task of a step run's attempt, row-locked."""
    record: asyncpg.Record | None = await connection.fetchrow(
        f"SELECT {COLUMNS} FROM tasks t WHERE t.step_run_id = $1 AND t.step_attempt = $2 "
        "FOR UPDATE",
        step_run_id,
        attempt,
    )
    return record


async def get(
    executor: Executor, task_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    return await select_by_id(executor, COLUMNS, "tasks", task_id, lock=lock)


async def page(
    executor: Executor,
    campaign_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    status: str | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    return await keyset_page(
        executor,
        COLUMNS,
        "tasks t",
        "($1::uuid IS NULL OR t.campaign_id = $1) "
        "AND ($2::uuid IS NULL OR t.assigned_agent_id = $2) "
        "AND ($3::text IS NULL OR t.status = $3) "
        "AND ($4::text IS NULL OR t.channel = $4)",
        [campaign_id, agent_id, status, channel],
        limit,
        cursor,
    )


async def complete_open(
    connection: Connection, outcomes: dict[uuid.UUID, str]
) -> list[asyncpg.Record]:
    """Complete those of these tasks still open, each with its outcome; the completed ones
    (their `EVENT_COLUMNS`)."""
    return list(
        await connection.fetch(
            "UPDATE tasks t SET status = 'completed', outcome = o.outcome, updated_at = now() "
            "FROM unnest($1::uuid[], $2::text[]) AS o(id, outcome) "
            f"WHERE t.id = o.id AND t.status = ANY($3::text[]) RETURNING {EVENT_COLUMNS}",
            list(outcomes),
            list(outcomes.values()),
            list(OPEN),
        )
    )


async def end_campaigns(connection: Connection, ended: dict[uuid.UUID, str]) -> None:
    """Campaigns that ended (with their status) are recorded, and their open tasks cancelled."""
    await connection.execute(
        "WITH ended AS (INSERT INTO ended_campaigns (campaign_id, status) "
        "SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING) "
        "UPDATE tasks SET status = 'cancelled', updated_at = now() "
        "WHERE campaign_id = ANY($1::uuid[]) AND status IN ('pending', 'assigned', 'in_progress')",
        list(ended),
        list(ended.values()),
    )


async def mark_requested(
    connection: Connection, requested: list[tuple[uuid.UUID, dict[str, Any]]]
) -> None:
    """Tasks whose message was requested now, each with its request (kept to ask again)."""
    await connection.execute(
        "UPDATE tasks SET message_requested_at = now(), message_request = r.request, "
        "updated_at = now() FROM unnest($1::uuid[], $2::jsonb[]) AS r(task_id, request) "
        "WHERE tasks.id = r.task_id",
        [task_id for task_id, _ in requested],
        [request for _, request in requested],
    )


async def cancel_of_ended(connection: Connection) -> int:
    """Open tasks of campaigns that ended: a task created while its campaign's end was being
    recorded (two lanes, each blind to the other's uncommitted rows) is cancelled here."""
    result = await connection.execute(
        "UPDATE tasks t SET status = 'cancelled', updated_at = now() "
        "WHERE t.status IN ('pending', 'assigned', 'in_progress') "
        "AND EXISTS (SELECT 1 FROM ended_campaigns e WHERE e.campaign_id = t.campaign_id)"
    )
    return rows_affected(result)


async def set_status(
    connection: Connection, task_id: uuid.UUID, status: str, **fields: Any
) -> None:
    await update_by_id(connection, "tasks", task_id, {"status": status, **fields})


async def assign(connection: Connection, chosen: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Tasks given to agents: `(task_id, agent_id)` pairs; each agent's `last_assigned_at`."""
    if not chosen:
        return
    await connection.execute(
        "WITH given AS (UPDATE tasks SET status = 'assigned', assigned_agent_id = a.agent_id, "
        "updated_at = now() FROM unnest($1::uuid[], $2::uuid[]) AS a(task_id, agent_id) "
        "WHERE tasks.id = a.task_id RETURNING a.agent_id) "
        "UPDATE agents SET last_assigned_at = now() "
        "WHERE id IN (SELECT agent_id FROM given)",
        [task_id for task_id, _ in chosen],
        [agent_id for _, agent_id in chosen],
    )


async def still_in_progress(connection: Connection, task_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these tasks are still in progress (not cancelled meanwhile, their campaign not
    ended: its end may have committed beside the task's creation in another lane), row-locked."""
    rows = await connection.fetch(
        "SELECT id FROM tasks t WHERE t.id = ANY($1::uuid[]) AND t.status = 'in_progress' "
        "AND NOT EXISTS (SELECT 1 FROM ended_campaigns e WHERE e.campaign_id = t.campaign_id) "
        "ORDER BY t.id FOR UPDATE",
        task_ids,
    )
    return {row["id"] for row in rows}


async def any_pending(executor: Executor) -> bool:
    """Whether a task waits for an agent (read without locking anything)."""
    return bool(
        await executor.fetchval("SELECT EXISTS (SELECT 1 FROM tasks WHERE status = 'pending')")
    )


async def lock_pending(connection: Connection, limit: int) -> list[asyncpg.Record]:
    """The oldest pending tasks, locked (those another assigner holds are skipped)."""
    rows: list[asyncpg.Record] = await connection.fetch(
        f"SELECT {COLUMNS} FROM tasks t WHERE t.status = 'pending' "
        "ORDER BY t.created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return rows


async def take_ai_tasks(connection: Connection, limit: int) -> list[asyncpg.Record]:
    """The AI agents' assigned tasks, oldest first, marked in progress (run in a transaction);
    the tasks as they were read."""
    rows = await connection.fetch(
        f"SELECT {COLUMNS} FROM tasks t JOIN agents a ON a.id = t.assigned_agent_id "
        "WHERE t.status = 'assigned' AND a.kind = 'ai' ORDER BY t.updated_at "
        "LIMIT $1 FOR UPDATE OF t SKIP LOCKED",
        limit,
    )
    await connection.execute(
        "UPDATE tasks SET status = 'in_progress', message_requested_at = NULL, "
        "updated_at = now() WHERE id = ANY($1::uuid[])",
        [row["id"] for row in rows],
    )
    return list(rows)


async def release_assigned(connection: Connection, agent_id: uuid.UUID) -> None:
    """The agent's assigned tasks, not yet started, go back to pending (the agent is leaving)."""
    await connection.execute(
        "UPDATE tasks SET status = 'pending', assigned_agent_id = NULL, updated_at = now() "
        "WHERE assigned_agent_id = $1 AND status = 'assigned'",
        agent_id,
    )


async def requeue_of_agents(connection: Connection, agent_ids: list[uuid.UUID]) -> None:
    """The unfinished tasks of these agents (gone offline) go back to pending; a message
    requested before is asked for again (same key) by whoever takes the task, which holds that
    agent's slot until then."""
    if agent_ids:
        await connection.execute(
            "UPDATE tasks SET status = 'pending', assigned_agent_id = NULL, "
            "message_requested_at = NULL, updated_at = now() "
            "WHERE assigned_agent_id = ANY($1::uuid[]) AND status IN ('assigned', 'in_progress')",
            agent_ids,
        )


async def reset_stuck(connection: Connection, older_than_s: int) -> int:
    """Tasks assigned or in progress for too long go back to pending, to be assigned afresh
    (holding their new agent's slot until their message is requested again); how many."""
    result = await connection.execute(
        "UPDATE tasks SET status = 'pending', assigned_agent_id = NULL, "
        "message_requested_at = NULL, updated_at = now() "
        "WHERE status IN ('assigned', 'in_progress') "
        "AND updated_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return rows_affected(result)


async def resume_interrupted(connection: Connection, lease_s: int) -> int:
    """AI tasks taken but never requested (their worker died composing) are taken up again.

    Safe even if that worker is only slow: the request reuses the idempotency key, so the
    notifier sends the message once."""
    result = await connection.execute(
        "UPDATE tasks t SET status = 'assigned', updated_at = now() FROM agents a "
        "WHERE a.id = t.assigned_agent_id AND a.kind = 'ai' AND t.status = 'in_progress' "
        "AND t.message_requested_at IS NULL AND t.updated_at < now() - make_interval(secs => $1)",
        lease_s,
    )
    return rows_affected(result)
