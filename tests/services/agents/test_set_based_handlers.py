"""The set-based handlers keep the one-event-at-a-time meaning when a batch holds several
events about the same thing: a step due twice opens one task, a task's `message.sent` and
`message.delivered` in one batch complete it once (the first result counts)."""

from __future__ import annotations

import uuid

import pytest

from services.agents import handlers
from shared.consumer import Retry, Subscription, handle_batch
from shared.events import Envelope
from tests.bench.agents import step_due
from tests.helpers import private_schema

ONCE = Retry(attempts=1, backoff_ms=0)


@pytest.fixture
async def agents_schema(settings):
    async with private_schema(settings, "set_based", "services.agents") as (_, pool):
        yield pool


def _result(event_type: str, task_id: uuid.UUID) -> Envelope:
    payload = {"messageId": str(uuid.uuid4()), "idempotencyKey": "k", "taskId": str(task_id),
               "channel": "email", "providerId": "p", "simulated": True}  # fmt: skip
    return Envelope(type=event_type, producer="tests", payload=payload)


async def test_one_task_per_step_and_one_completion_per_task_in_a_batch(agents_schema):
    pool = agents_schema
    due, other = step_due(), step_due()
    again = Envelope(type=due.type, producer="tests", payload=due.payload)  # a re-drive
    create = Subscription("campaign.step_due", "create-task", handler_of_many=handlers.create_tasks)

    assert await handle_batch(pool, create, [due, again, other], ONCE) == {}

    made = await pool.fetch("SELECT id, step_run_id FROM tasks ORDER BY created_at")
    assert len(made) == 2
    task_id = next(r["id"] for r in made if str(r["step_run_id"]) == due.payload["stepRunId"])
    done = Subscription("message.sent", "message-done", handler_of_many=handlers.messages_done)
    results = [_result("message.sent", task_id), _result("message.delivered", task_id)]

    assert await handle_batch(pool, done, results, ONCE) == {}

    task = await pool.fetchrow("SELECT status, outcome FROM tasks WHERE id = $1", task_id)
    assert (task["status"], task["outcome"]) == ("completed", "sent")
    told = await pool.fetch("SELECT topic, envelope FROM outbox ORDER BY id")
    assert [row["topic"] for row in told] == ["task.created", "task.created", "task.completed"]
    assert told[2]["envelope"]["payload"]["outcome"] == "sent"
