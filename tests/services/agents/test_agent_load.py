"""An agent's open tasks are counted as they change (the tasks' trigger writes each change,
the assignment pass folds them in): whatever path a task takes into or out of an agent's
hands, the count the API shows and the one assignment uses are the tasks really open."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.agents import handlers
from services.agents.stores import agents
from shared.consumer import Retry, Subscription, handle_batch
from tests.bench.agents import step_due
from tests.helpers import private_schema

ONCE = Retry(attempts=1, backoff_ms=0)
OPEN = "SELECT count(*) FROM tasks WHERE assigned_agent_id = $1 AND status IN ('assigned', 'in_progress')"


@pytest.fixture
async def agents_schema(settings):
    async with private_schema(settings, "agent_load", "services.agents") as (_, pool):
        yield pool


async def _counts(pool: asyncpg.Pool, agent_id: uuid.UUID) -> tuple[int, int]:
    """What the API shows, and the tasks really open."""
    shown = await agents.get(pool, agent_id)
    assert shown is not None
    return shown["open_tasks"], await pool.fetchval(OPEN, agent_id)


async def _fold(pool: asyncpg.Pool) -> list[int]:
    """An assignment pass's look at the agents: the online agents' counts, folded."""
    async with pool.acquire() as connection, connection.transaction():
        return [c.open_tasks for c in await agents.candidates(connection)]


async def test_the_count_follows_every_way_a_task_is_opened_or_closed(
    service_environment, agents_schema
):
    service_environment()
    pool = agents_schema
    async with pool.acquire() as connection:
        made = await agents.insert(
            connection,
            {"name": "AI", "kind": "ai", "status": "online", "channels": ["email"],
             "max_concurrent": 50},
        )  # fmt: skip
    agent_id = made["id"]
    create = Subscription("campaign.step_due", "create-task", handler_of_many=handlers.create_tasks)
    assert await handle_batch(pool, create, [step_due() for _ in range(4)], ONCE) == {}
    shown, really = await _counts(pool, agent_id)
    assert shown == really == 4  # before any fold: the pending changes are counted
    assert await _fold(pool) == [4]
    assert await pool.fetchval("SELECT count(*) FROM agent_load_changes") == 0
    assert await pool.fetchval("SELECT open_tasks FROM agents WHERE id = $1", agent_id) == 4

    tasks = [r["id"] for r in await pool.fetch("SELECT id FROM tasks ORDER BY created_at")]
    # In progress is the same load; completed, failed, back to the queue and gone are not.
    await pool.execute("UPDATE tasks SET status = 'in_progress' WHERE id = $1", tasks[0])
    await pool.execute("UPDATE tasks SET status = 'completed' WHERE id = $1", tasks[1])
    await pool.execute("UPDATE tasks SET status = 'failed' WHERE id = $1", tasks[2])
    await pool.execute(
        "UPDATE tasks SET status = 'pending', assigned_agent_id = NULL WHERE id = $1", tasks[3]
    )
    assert await _counts(pool, agent_id) == (1, 1)
    await pool.execute("DELETE FROM tasks WHERE id = $1", tasks[0])
    assert await _counts(pool, agent_id) == (0, 0)
    assert await _fold(pool) == [0]
    # Given back to the agent: counted again.
    await pool.execute(
        "UPDATE tasks SET status = 'assigned', assigned_agent_id = $1 WHERE id = $2",
        agent_id,
        tasks[3],
    )
    assert await _counts(pool, agent_id) == (1, 1)
    assert await _fold(pool) == [1]


async def test_an_agent_at_its_limit_is_given_nothing_more(service_environment, agents_schema):
    service_environment()
    pool = agents_schema
    async with pool.acquire() as connection:
        await agents.insert(
            connection,
            {"name": "Small AI", "kind": "ai", "status": "online", "channels": ["email"],
             "max_concurrent": 2},
        )  # fmt: skip
    create = Subscription("campaign.step_due", "create-task", handler_of_many=handlers.create_tasks)
    assert await handle_batch(pool, create, [step_due() for _ in range(3)], ONCE) == {}
    statuses = sorted(r["status"] for r in await pool.fetch("SELECT status FROM tasks"))
    assert statuses.count("pending") == 1  # the third waits for a free place
    assert await _fold(pool) == [2]
