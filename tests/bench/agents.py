"""Agents: tasks created (from `campaign.step_due`), assigned, created and started at once (an
AI agent free), and completed (on `message.sent`) per second, each through the service's own handlers in a private schema; baseline: bare
single-row INSERTs into the same table, one transaction each."""

from __future__ import annotations

import time
import uuid

from services.agents import handlers, workers
from shared.consumer import Retry, Subscription, handle_batch
from shared.db import connect, create_pool
from shared.events import Envelope
from shared.migrations import migrate, service_migrations
from shared.settings import ServiceSettings
from tests.bench.report import Row
from tests.scheduler_seed import drop_schema

TASKS = 3_000
BATCH = 500  # events one consumer batch hands to one transaction
NO_RETRY = Retry(attempts=1, backoff_ms=0)


def step_due() -> Envelope:
    """A `campaign.step_due` as the scheduler emits it (also the pipeline's message size)."""
    campaign_id = str(uuid.uuid4())
    return Envelope(
        type="campaign.step_due",
        producer="bench",
        payload={
            "campaignId": campaign_id, "stepRunId": str(uuid.uuid4()), "stepId": str(uuid.uuid4()),
            "position": 1, "attempt": 1, "channel": "email", "tone": "friendly", "template": None,
            "dueAt": "2026-01-01T09:00:00+00:00",
            "customer": {"id": str(uuid.uuid4()), "email": "a@example.com", "phone": None,
                         "timezone": "UTC", "companyName": "Acme", "contactName": "Ada"},
            "payment": {"id": str(uuid.uuid4()), "invoiceNumber": "INV-1", "amount": "10.00",
                        "amountPaid": "0.00", "outstanding": "10.00", "currency": "EUR", "dueDate": "2026-01-01"},
        },
    )  # fmt: skip


def _message_sent(task_id: uuid.UUID) -> Envelope:
    payload = {
        "messageId": str(uuid.uuid4()),
        "idempotencyKey": str(task_id),
        "taskId": str(task_id),
        "channel": "email",
        "providerId": "<x@remit>",
        "simulated": False,
    }
    return Envelope(type="message.sent", producer="bench", payload=payload)


async def measure(settings: ServiceSettings) -> list[Row]:
    schema = f"bench_agents_{uuid.uuid4().hex[:8]}"
    connection = await connect(settings.database_url, schema)
    await migrate(connection, schema, service_migrations("services.agents"))
    await connection.execute(
        "INSERT INTO agents (id, name, kind, status, channels, max_concurrent) "
        "VALUES ($1, 'bench', 'ai', 'offline', ARRAY['email'], 1000000)",
        uuid.uuid4(),
    )
    await connection.close()
    pool = await create_pool(settings, schema, max_size=4)
    create = Subscription(
        "campaign.step_due", "bench.create", handler_of_many=handlers.create_tasks
    )
    try:
        # No agent online: the tasks wait, pending, for the worker to assign them.
        events = [step_due() for _ in range(TASKS)]
        started = time.perf_counter()
        for first in range(0, TASKS, BATCH):
            assert not await handle_batch(pool, create, events[first : first + BATCH], NO_RETRY)
        created = TASKS / (time.perf_counter() - started)

        await pool.execute("UPDATE agents SET status = 'online'")
        started = time.perf_counter()
        while True:
            async with pool.acquire() as tx, tx.transaction():
                if not await workers.assign_pending(tx, limit=500):
                    break
        assigned = TASKS / (time.perf_counter() - started)

        # The AI agent online: each task is assigned and its message requested as it opens.
        at_once = [step_due() for _ in range(TASKS)]
        started = time.perf_counter()
        for first in range(0, TASKS, BATCH):
            assert not await handle_batch(pool, create, at_once[first : first + BATCH], NO_RETRY)
        started_at_once = TASKS / (time.perf_counter() - started)
        assert (
            await pool.fetchval("SELECT count(*) FROM tasks WHERE message_requested_at IS NOT NULL")
            == TASKS
        )

        ids = [row["id"] for row in await pool.fetch("SELECT id FROM tasks")]
        started = time.perf_counter()
        done = Subscription("message.sent", "bench.done", handler_of_many=handlers.messages_done)
        sent = [_message_sent(task_id) for task_id in ids]
        for first in range(0, len(ids), BATCH):
            assert not await handle_batch(pool, done, sent[first : first + BATCH], NO_RETRY)
        completed = len(ids) / (time.perf_counter() - started)

        started = time.perf_counter()
        for _ in events:
            async with pool.acquire() as tx, tx.transaction():
                await tx.execute(
                    "INSERT INTO tasks (id, campaign_id, step_run_id, customer_id, channel, step) "
                    "VALUES ($1, $2, $3, $4, 'email', '{}')",
                    uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(),
                )  # fmt: skip
        bare = TASKS / (time.perf_counter() - started)
        assert await pool.fetchval("SELECT count(*) FROM tasks WHERE status = 'completed'") == len(
            ids
        )
    finally:
        await pool.close()
        await drop_schema(settings, schema)
    note = f"{TASKS:,} tasks"
    return [
        Row.of("bare task INSERT, 1 per transaction (baseline)", bare, "tasks/s", None, note),
        Row.of(f"tasks created from step_due (batches of {BATCH})", created, "tasks/s", bare, note),
        Row.of("tasks assigned (least loaded, batches of 500)", assigned, "tasks/s", bare, note),
        Row.of(
            f"tasks created, assigned and requested at once (batches of {BATCH})",
            started_at_once,
            "tasks/s",
            bare,
            note + "; AI agent free, templates",
        ),
        Row.of(
            f"tasks completed on message.sent (batches of {BATCH})",
            completed,
            "tasks/s",
            bare,
            note,
        ),
    ]
