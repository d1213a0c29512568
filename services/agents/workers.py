"""The agents service's loops: assign pending tasks, let AI agents work theirs, and repair what
got stuck (lapsed heartbeats, tasks older than TASK_STUCK_AFTER)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from opentelemetry import trace

from services.agents import events
from services.agents.brain import Brain
from services.agents.domain.assignment import choose_agents
from services.agents.domain.templates import facts_from_step
from services.agents.settings import AgentsSettings
from services.agents.stores import agents, tasks
from shared.clock import clock
from shared.db import DATABASE_ERRORS, Connection
from shared.events import Envelope
from shared.tracing import continued

logger = logging.getLogger(__name__)

AI_BATCH = 100  # AI tasks one worker pass takes, composes and requests
COMPOSE_CONCURRENCY = 10  # compositions (OpenAI calls) at once
# The repairs (lapsed heartbeats, stuck and interrupted tasks, tasks of ended campaigns) look
# at a second's worth of change at most this often, however fast the passes go: each one reads
# a share of the task table, assignment reads only pending tasks.
REPAIR_EVERY_S = 1.0


async def assign_pending(connection: Connection, limit: int = 200) -> int:
    """Give pending tasks to eligible agents; run inside a transaction.

    The agents are locked before the tasks, as where tasks are opened: two transactions that
    lock both in opposite orders could each wait for the other. Locking and counting the
    agents' load is most of a pass's cost, so a pass with nothing pending stops first: a task
    opened just after the look waits for the next pass."""
    if not await tasks.any_pending(connection):
        return 0
    candidates = await agents.candidates(connection)
    pending = await tasks.lock_pending(connection, limit)
    if not pending:
        return 0
    choices = choose_agents(candidates, [task["channel"] for task in pending], datetime.now(UTC))
    chosen: list[tuple[uuid.UUID, uuid.UUID]] = []
    assigned: list[Envelope] = []
    for task, agent in zip(pending, choices, strict=True):
        if agent is None:
            continue
        chosen.append((task["id"], agent.id))
        with continued(
            "task.assign", task["request_id"], task["traceparent"], trace.SpanKind.INTERNAL
        ):
            assigned.append(events.task_assigned(task, agent.id))
    await tasks.assign(connection, chosen)
    await events.publish(connection, *assigned)
    return len(chosen)


def idempotency_key(task: tasks.TaskRow) -> str:
    """One per step run and attempt and send try: a task reassigned after a crash asks again
    with the same key (the notifier sends once); a retry after a failed send gets a new one."""
    return f"{task['step_run_id']}:{task['step_attempt']}:{task['attempts']}"


async def _take_ai_tasks(pool: asyncpg.Pool, limit: int) -> list[asyncpg.Record]:
    async with pool.acquire() as connection, connection.transaction():
        return await tasks.take_ai_tasks(connection, limit)


async def message_request(brain: Brain, task: tasks.TaskRow) -> Envelope:
    """Compose the task's message: the `message.requested` event, in the task's trace."""
    with continued(
        "task.compose", task["request_id"], task["traceparent"], trace.SpanKind.INTERNAL
    ):
        step: dict[str, Any] = task["step"]
        facts = facts_from_step(step, clock.now().date())
        history = (
            f"escalation step {step.get('position', 1)}, attempt {step.get('attempt', 1)}; "
            f"{step['payment']['amountPaid']} {step['payment']['currency']} paid so far"
        )
        composed = await brain.compose(
            task["channel"], step.get("tone", "friendly"), facts, step.get("template"), history
        )
        return events.message_requested(
            task,
            idempotency_key(task),
            composed.draft.subject,
            composed.draft.body,
            composed.source,
        )


async def work_ai_tasks(pool: asyncpg.Pool, brain: Brain, limit: int = AI_BATCH) -> int:
    """Compose each assigned AI task's message and ask the notifier to send it.

    The tasks are marked in progress first; their messages are composed outside any lock
    (OpenAI may take seconds, so at most COMPOSE_CONCURRENCY at once), then requested in one
    transaction, skipping tasks cancelled meanwhile. A crash in between leaves them in
    progress until they are resumed; the next try requests with the same idempotency key.
    """
    taken = await _take_ai_tasks(pool, limit)
    if not taken:
        return 0
    gate = asyncio.Semaphore(COMPOSE_CONCURRENCY)

    async def compose(task: asyncpg.Record) -> Envelope:
        async with gate:
            return await message_request(brain, task)

    requests = await asyncio.gather(*(compose(task) for task in taken))
    async with pool.acquire() as connection, connection.transaction():
        still = await tasks.still_in_progress(connection, [task["id"] for task in taken])
        going = [
            (task, request)
            for task, request in zip(taken, requests, strict=True)
            if task["id"] in still
        ]
        await events.publish(connection, *(request for _, request in going))
        await tasks.mark_requested(
            connection, [(task["id"], request.payload) for task, request in going]
        )
    return len(taken)


async def _repair(connection: Connection, settings: AgentsSettings) -> None:
    await agents.beat_ai_agents(connection)
    async with connection.transaction():
        lapsed = await agents.go_offline_lapsed(connection, settings.agent_heartbeat_timeout)
        await tasks.requeue_of_agents(connection, lapsed)
        stuck = await tasks.reset_stuck(connection, settings.task_stuck_after)
        if stuck:
            logger.warning("stuck tasks returned to pending", extra={"count": stuck})
        await tasks.cancel_of_ended(connection)
        resumed = await tasks.resume_interrupted(connection, settings.ai_task_lease)
        if resumed:
            logger.warning("interrupted AI tasks resumed", extra={"count": resumed})


async def run_forever(pool: asyncpg.Pool, settings: AgentsSettings, brain: Brain) -> None:
    interval = settings.agents_worker_interval_ms / 1000
    async with pool.acquire() as connection:
        await agents.ensure_default_ai_agent(connection)
    repaired_at = -REPAIR_EVERY_S
    while True:
        try:
            async with pool.acquire() as connection:
                if time.monotonic() - repaired_at >= REPAIR_EVERY_S:
                    await _repair(connection, settings)
                    repaired_at = time.monotonic()
                async with connection.transaction():
                    await assign_pending(connection)
            worked = await work_ai_tasks(pool, brain, AI_BATCH)
        except DATABASE_ERRORS as error:
            logger.warning("agents worker pass failed; will retry", extra={"error": repr(error)})
            worked = 0
        if worked < AI_BATCH:  # a full batch means more is waiting: go again at once
            await asyncio.sleep(interval)
