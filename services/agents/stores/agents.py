"""The `agents.agents` store."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.agents.domain.assignment import Candidate
from shared.db import Connection, Executor

# The tasks an agent is working on, each holding one of its `max_concurrent` slots: assigned, or
# in progress with no message handed to the notifier yet. A task whose message was requested
# waits for the notifier's result (deferred to contact hours, say) without holding the agent.
OPEN_TASKS = (
    "(SELECT count(*) FROM tasks t WHERE t.assigned_agent_id = a.id "
    "AND t.status IN ('assigned', 'in_progress') AND t.message_requested_at IS NULL) AS open_tasks"
)
COLUMNS = (
    "a.id, a.name, a.kind, a.status, a.channels, a.max_concurrent, a.user_id, "
    f"a.last_heartbeat_at, a.created_at, a.updated_at, {OPEN_TASKS}"
)
DEFAULT_AI_AGENT = "Default AI agent"


async def insert(connection: Connection, fields: dict[str, Any]) -> asyncpg.Record:
    agent_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO agents (id, name, kind, status, channels, max_concurrent, user_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        agent_id,
        fields["name"],
        fields["kind"],
        fields.get("status", "offline"),
        sorted(fields["channels"]),
        fields["max_concurrent"],
        fields.get("user_id"),
    )
    found = await get(connection, agent_id)
    assert found is not None
    return found


async def get(executor: Executor, agent_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM agents a WHERE a.id = $1", agent_id
    )
    return record


async def by_user(executor: Executor, user_id: uuid.UUID) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM agents a WHERE a.user_id = $1", user_id
    )
    return record


async def listing(executor: Executor, kind: str | None, status: str | None) -> list[asyncpg.Record]:
    return list(
        await executor.fetch(
            f"SELECT {COLUMNS} FROM agents a WHERE ($1::text IS NULL OR a.kind = $1) "
            "AND ($2::text IS NULL OR a.status = $2) ORDER BY a.created_at, a.id",
            kind,
            status,
        )
    )


_UPDATABLE = ("name", "status", "channels", "max_concurrent")


async def update(connection: Connection, agent_id: uuid.UUID, changes: dict[str, Any]) -> None:
    names = [name for name in _UPDATABLE if changes.get(name) is not None]
    if not names:
        return
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await connection.execute(
        f"UPDATE agents SET {assignments}, updated_at = now() WHERE id = $1",
        agent_id,
        *(sorted(changes[n]) if n == "channels" else changes[n] for n in names),
    )


async def heartbeat(executor: Executor, agent_id: uuid.UUID) -> None:
    await executor.execute(
        "UPDATE agents SET last_heartbeat_at = now(), updated_at = now(), "
        "status = CASE WHEN status = 'offline' THEN 'online' ELSE status END WHERE id = $1",
        agent_id,
    )


async def candidates(connection: Connection) -> list[Candidate]:
    """Every online agent with its load, locked so concurrent assigners count alike."""
    rows = await connection.fetch(
        f"SELECT a.id, a.kind, a.status, a.channels, a.max_concurrent, {OPEN_TASKS}, "
        "a.last_assigned_at FROM agents a WHERE a.status = 'online' ORDER BY a.id FOR UPDATE OF a"
    )
    return [
        Candidate(
            row["id"],
            row["kind"],
            row["status"],
            frozenset(row["channels"]),
            row["max_concurrent"],
            row["open_tasks"],
            row["last_assigned_at"],
        )
        for row in rows
    ]


async def note_assigned(connection: Connection, agent_ids: set[uuid.UUID]) -> None:
    """These agents were just given tasks (the longest idle is chosen first)."""
    if agent_ids:
        await connection.execute(
            "UPDATE agents SET last_assigned_at = now() WHERE id = ANY($1::uuid[])",
            list(agent_ids),
        )


async def ensure_default_ai_agent(connection: Connection) -> None:
    """A fresh platform can run a campaign at once: one AI agent working every channel."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('agents.default_ai'))")
        await connection.execute(
            "INSERT INTO agents (id, name, kind, status, channels, max_concurrent) "
            "SELECT $1, $2, 'ai', 'online', ARRAY['email', 'sms', 'voice'], 50 "
            "WHERE NOT EXISTS (SELECT 1 FROM agents WHERE kind = 'ai')",
            uuid.uuid4(),
            DEFAULT_AI_AGENT,
        )


async def beat_ai_agents(executor: Executor) -> None:
    """AI agents live in this service: while it runs, they are alive."""
    await executor.execute(
        "UPDATE agents SET last_heartbeat_at = now(), "
        "status = CASE WHEN status = 'offline' THEN 'online' ELSE status END "
        "WHERE kind = 'ai' AND status <> 'disabled'"
    )


async def go_offline_lapsed(connection: Connection, timeout_s: int) -> list[uuid.UUID]:
    """Human agents whose heartbeat lapsed go offline; their ids (their tasks are requeued by
    the caller, `tasks.requeue_of_agents`)."""
    lapsed = await connection.fetch(
        "UPDATE agents SET status = 'offline', updated_at = now() "
        "WHERE kind = 'human' AND status IN ('online', 'busy') "
        "AND (last_heartbeat_at IS NULL OR last_heartbeat_at < now() - make_interval(secs => $1)) "
        "RETURNING id",
        timeout_s,
    )
    return [row["id"] for row in lapsed]
