"""A due step's task is started in the transaction that opens it when an agent is free: given
to the least loaded agent at once, and, for an AI agent composing from templates, its message
requested at once too; no worker pass in between. An AI agent that would ask OpenAI is only
given the task (no provider call inside an event handler): the worker composes it."""

from __future__ import annotations

import uuid

import pytest

from services.agents import handlers, workers
from services.agents.brain import shared_brain
from services.agents.stores import agents as agents_store
from services.agents.stores import tasks as tasks_store
from shared.consumer import Retry, Subscription, handle_batch
from shared.settings import forget_settings
from tests.bench.agents import step_due
from tests.helpers import private_schema

ONCE = Retry(attempts=1, backoff_ms=0)
CREATE = Subscription("campaign.step_due", "create-task", handler_of_many=handlers.create_tasks)


@pytest.fixture
def service_environment(monkeypatch, platform):
    """This process configured as the agents service is (its settings, its brain)."""

    def configure(**extra: str) -> None:
        for name, value in {**platform.env, **extra}.items():
            monkeypatch.setenv(name, value)
        forget_settings()
        shared_brain.cache_clear()

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield configure
    forget_settings()
    shared_brain.cache_clear()


@pytest.fixture
async def agents_schema(settings):
    async with private_schema(settings, "task_start", "services.agents") as (_, pool):
        yield pool


async def _agent(pool, kind: str, channels: list[str], limit: int) -> uuid.UUID:
    agent_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO agents (id, name, kind, status, channels, max_concurrent) "
        "VALUES ($1, $2, $3, 'online', $4, $5)",
        agent_id, f"{kind} agent", kind, channels, limit,
    )  # fmt: skip
    return agent_id


async def _topics(pool) -> list[str]:
    return [row["topic"] for row in await pool.fetch("SELECT topic FROM outbox ORDER BY id")]


async def test_a_free_ai_agent_takes_and_requests_in_the_opening_transaction(
    service_environment, agents_schema
):
    service_environment()
    pool = agents_schema
    # A limit of 2, and 3 steps: each message is handed to the notifier in the transaction that
    # gives the agent its task, so no task holds one of its slots and all 3 start at once.
    ai = await _agent(pool, "ai", ["email", "sms", "voice"], limit=2)
    steps = [step_due() for _ in range(3)]

    assert await handle_batch(pool, CREATE, steps, ONCE) == {}

    rows = await pool.fetch(
        "SELECT step_run_id, status, assigned_agent_id, message_requested_at, message_request "
        "FROM tasks ORDER BY created_at, id"
    )
    by_run = {str(row["step_run_id"]): row for row in rows}
    started = [by_run[step.payload["stepRunId"]] for step in steps]
    for step, task in zip(steps, started, strict=True):
        assert (task["status"], task["assigned_agent_id"]) == ("in_progress", ai)
        assert task["message_requested_at"] is not None
        request = task["message_request"]
        assert request["idempotencyKey"] == f"{step.payload['stepRunId']}:1:0"
        assert request["to"] == "a@example.com" and request["composedBy"].startswith("template")
    assert sorted(await _topics(pool)) == sorted(
        ["task.created"] * 3 + ["task.assigned"] * 3 + ["message.requested"] * 3
    )
    requested = await pool.fetch(
        "SELECT envelope FROM outbox WHERE topic = 'message.requested' ORDER BY id"
    )
    assert [row["envelope"]["payload"] for row in requested] == [
        task["message_request"] for task in started
    ]
    assert await pool.fetchval("SELECT last_assigned_at FROM agents WHERE id = $1", ai)
    # Nothing is left for the worker to compose: it would only ask again.
    assert await workers.work_ai_tasks(pool, shared_brain()) == 0


async def _holding(pool, agent_id: uuid.UUID, status: str, requested: bool) -> None:
    """A task of `agent_id` in `status`, its message requested or not."""
    await pool.execute(
        "INSERT INTO tasks (id, campaign_id, step_run_id, step_attempt, customer_id, channel, "
        "step, status, assigned_agent_id, message_requested_at) "
        "VALUES ($1, $2, $3, 1, $4, 'sms', '{}', $5, $6, "
        "CASE WHEN $7 THEN now() END)",
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), status, agent_id, requested,
    )  # fmt: skip


async def test_slots_are_held_by_tasks_the_agent_works_on_not_by_results_awaited(
    service_environment, agents_schema
):
    # With OpenAI, composing takes the worker: an assigned task holds its slot until then.
    service_environment(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    pool = agents_schema
    ai = await _agent(pool, "ai", ["email"], limit=2)
    await _holding(pool, ai, "in_progress", requested=True)  # waits for the notifier's result
    await _holding(pool, ai, "in_progress", requested=False)  # being composed
    first, second = step_due(), step_due()

    assert await handle_batch(pool, CREATE, [first, second], ONCE) == {}

    # One slot was free: the first task takes it; the second waits for the worker.
    statuses = {
        str(row["step_run_id"]): (row["status"], row["assigned_agent_id"])
        for row in await pool.fetch("SELECT step_run_id, status, assigned_agent_id FROM tasks")
    }
    assert statuses[first.payload["stepRunId"]] == ("assigned", ai)
    assert statuses[second.payload["stepRunId"]] == ("pending", None)
    async with pool.acquire() as connection, connection.transaction():
        assert await workers.assign_pending(connection) == 0  # still full
    async with pool.acquire() as connection:
        listed = await connection.fetchrow(
            f"SELECT {agents_store.COLUMNS} FROM agents a WHERE a.id = $1", ai
        )
    assert listed["open_tasks"] == 2  # the result awaited does not count

    # The composed task's message is handed over: its slot frees, the worker assigns the next.
    await pool.execute(
        "UPDATE tasks SET message_requested_at = now() WHERE assigned_agent_id = $1 "
        "AND status = 'in_progress'",
        ai,
    )
    async with pool.acquire() as connection, connection.transaction():
        assert await workers.assign_pending(connection) == 1
    assert (
        await pool.fetchval(
            "SELECT assigned_agent_id FROM tasks WHERE step_run_id = $1",
            uuid.UUID(second.payload["stepRunId"]),
        )
        == ai
    )


async def test_a_step_due_again_starts_nothing_twice(service_environment, agents_schema):
    service_environment()
    pool = agents_schema
    await _agent(pool, "ai", ["email"], limit=10)
    step = step_due()

    assert await handle_batch(pool, CREATE, [step], ONCE) == {}
    again = step.model_copy(update={"event_id": uuid.uuid4()})  # the campaign re-drives it
    assert await handle_batch(pool, CREATE, [again], ONCE) == {}

    assert await pool.fetchval("SELECT count(*) FROM tasks") == 1
    topics = await _topics(pool)
    # The re-drive asks for the same message again, under the same key.
    assert topics == ["task.created", "task.assigned", "message.requested", "message.requested"]
    keys = {
        row["envelope"]["payload"]["idempotencyKey"]
        for row in await pool.fetch("SELECT envelope FROM outbox WHERE topic = 'message.requested'")
    }
    assert keys == {f"{step.payload['stepRunId']}:1:0"}


async def test_an_ai_agent_that_asks_openai_is_only_given_the_task(
    service_environment, agents_schema
):
    # A key is set: composing means an OpenAI call, which stays out of the event handler.
    service_environment(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    pool = agents_schema
    ai = await _agent(pool, "ai", ["email"], limit=10)

    assert await handle_batch(pool, CREATE, [step_due()], ONCE) == {}

    task = await pool.fetchrow("SELECT status, assigned_agent_id, message_request FROM tasks")
    assert (task["status"], task["assigned_agent_id"], task["message_request"]) == (
        "assigned",
        ai,
        None,
    )
    assert await _topics(pool) == ["task.created", "task.assigned"]


async def test_a_human_step_goes_to_a_free_person(service_environment, agents_schema):
    service_environment()
    pool = agents_schema
    await _agent(pool, "ai", ["email", "sms", "voice"], limit=10)
    person = await _agent(pool, "human", ["human"], limit=1)
    first, second = step_due(), step_due()
    for step in (first, second):
        step.payload["channel"] = "human"

    assert await handle_batch(pool, CREATE, [first, second], ONCE) == {}

    rows = await pool.fetch("SELECT status, assigned_agent_id FROM tasks ORDER BY status")
    assert [(row["status"], row["assigned_agent_id"]) for row in rows] == [
        ("assigned", person),
        ("pending", None),
    ]
    assert "message.requested" not in await _topics(pool)


async def test_a_task_put_back_to_pending_holds_its_next_agents_slot(
    service_environment, agents_schema
):
    """A requested task reset as stuck goes back to the queue as new: the agent given it next
    holds a slot for it until its message is requested again."""
    service_environment(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    pool = agents_schema
    ai = await _agent(pool, "ai", ["sms"], limit=1)
    await _holding(pool, ai, "in_progress", requested=True)
    async with pool.acquire() as connection, connection.transaction():
        assert await tasks_store.reset_stuck(connection, 0) == 1
        assert await workers.assign_pending(connection) == 1
    async with pool.acquire() as connection:
        listed = await connection.fetchrow(
            f"SELECT {agents_store.COLUMNS} FROM agents a WHERE a.id = $1", ai
        )
    assert listed["open_tasks"] == 1
    assert await pool.fetchval("SELECT message_requested_at FROM tasks") is None
