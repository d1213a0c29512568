"""`remit diagnose` and `GET /api/v1/diagnostics`: the first checks when the platform
misbehaves (the database's locks, slow queries and connections, each service's pool, Redis,
Kafka's consumer lag and dead letters), in one report.

Each check gathers facts (I/O) into a section of labelled facts; `as_json` (for the API) and
`render` (for the command line) present them and do no I/O. A section whose source is down
reports the error in place of its facts, so the report still comes back when it is needed
most.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from shared.cache_clear import PROTECTED_PREFIXES
from shared.db import DATABASE_ERRORS, Connection
from shared.ops import broker_stats, dead_letters
from shared.outbox import waiting
from shared.settings import SERVICE_NAMES, ServiceName, ServiceSettings
from shared.topics import consumed_topics


@dataclass(frozen=True)
class Fact:
    label: str  # for people (`remit diagnose`); the API uses the section's key
    value: Any


Section = dict[str, Fact]
Report = dict[str, Section]


async def slowest_statements(connection: Connection) -> Any:
    """pg_stat_statements' slowest, or why there are none (not installed, not preloaded)."""
    if not await connection.fetchval(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
    ):
        return "pg_stat_statements is not installed (CREATE EXTENSION pg_stat_statements)"
    try:
        rows = await connection.fetch(
            "SELECT left(query, 80) AS query, calls, "
            "round(mean_exec_time::numeric, 2) AS mean_ms, "
            "round(total_exec_time::numeric, 2) AS total_ms FROM pg_stat_statements "
            "ORDER BY mean_exec_time DESC LIMIT 10"
        )
    except asyncpg.ObjectNotInPrerequisiteStateError:
        return (
            "pg_stat_statements is installed but not loaded "
            "(add it to shared_preload_libraries and restart Postgres)"
        )
    return [_plain(dict(row)) for row in rows]


# A query running this long is listed as slow (the services' requests answer in milliseconds).
SLOW_QUERY_S = 5.0


async def operator_pool(database_url: str, application_name: str) -> asyncpg.Pool:
    """A small pool for the checks that opens its connections when first used, so that a
    database that is down fails only the sections that read it."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        database_url,
        min_size=0,
        max_size=2,
        timeout=5,  # to connect
        server_settings={"application_name": application_name},
    )
    return pool


async def database(pool: asyncpg.Pool, stuck_after_s: int) -> Section:
    async with pool.acquire() as connection:
        by_state = await connection.fetch(
            "SELECT coalesce(state, 'background') AS state, count(*) FROM pg_stat_activity "
            "GROUP BY 1 ORDER BY 2 DESC"
        )
        by_client = await connection.fetch(
            "SELECT coalesce(nullif(application_name, ''), backend_type) AS client, "
            "coalesce(state, 'background') AS state, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1, 2 ORDER BY 1, 2"
        )
        size = await connection.fetchval(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
        active = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        )
        scans = await connection.fetch(
            "SELECT schemaname || '.' || relname AS table, seq_scan, idx_scan "
            "FROM pg_stat_user_tables WHERE seq_scan > coalesce(idx_scan, 0) "
            "ORDER BY seq_scan DESC LIMIT 10"
        )
        slowest = await slowest_statements(connection)
        stuck = await connection.fetchval(
            "SELECT count(*) FROM agents.tasks WHERE status IN ('assigned', 'in_progress') "
            "AND updated_at < now() - make_interval(secs => $1)",
            stuck_after_s,
        )
        lock_waits = await connection.fetch(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS client, "
            "pg_blocking_pids(pid) AS blocked_by, "
            "round(extract(epoch FROM now() - state_change)::numeric, 1) AS waiting_s, "
            "left(query, 80) AS query FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' ORDER BY state_change LIMIT 10"
        )
        slow = await connection.fetch(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS client, "
            "round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds, "
            "wait_event_type AS waiting_on, left(query, 80) AS query FROM pg_stat_activity "
            "WHERE state = 'active' AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' "
            "AND query_start < now() - make_interval(secs => $1) ORDER BY query_start LIMIT 10",
            SLOW_QUERY_S,
        )
        running = await connection.fetch(
            "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS client, "
            "round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds, "
            "left(query, 80) AS query FROM pg_stat_activity "
            "WHERE state = 'active' AND pid <> pg_backend_pid() "
            "ORDER BY query_start LIMIT 10"
        )
        unpublished = {
            name: await connection.fetchval(
                f'SELECT count(*) FROM "{name}".outbox WHERE {waiting(name)}'
            )
            for name in SERVICE_NAMES
        }
        set_aside = {
            name: [
                _plain(dict(row))
                for row in await connection.fetch(
                    "SELECT id, topic, event_key AS key, set_aside_at AS at, "
                    f'left(set_aside_reason, 200) AS reason FROM "{name}".outbox '
                    "WHERE set_aside_at IS NOT NULL AND published_at IS NULL "
                    "ORDER BY set_aside_at DESC LIMIT 10"
                )
            ]
            for name in SERVICE_NAMES
        }
    clients: dict[str, dict[str, int]] = {}
    for row in by_client:
        clients.setdefault(row["client"], {})[row["state"]] = row["count"]
    return {
        "connectionsByState": Fact(
            "connections by state", {row["state"]: row["count"] for row in by_state}
        ),
        "connectionsByClient": Fact("connections by client (application_name)", clients),
        "databaseSize": Fact("database size", size),
        "activeQueries": Fact("active queries", active),
        "longestRunningQueries": Fact(
            "longest running queries", [_plain(dict(row)) for row in running]
        ),
        "lockWaits": Fact(
            "queries waiting for a lock (blocked_by: the pids holding it)",
            [_plain(dict(row)) for row in lock_waits],
        ),
        "slowQueries": Fact(
            f"slow queries (running over {SLOW_QUERY_S:g} s)", [_plain(dict(row)) for row in slow]
        ),
        "moreSequentialThanIndexScans": Fact(
            "more sequential than index scans", [dict(row) for row in scans]
        ),
        "slowestStatements": Fact("slowest statements", slowest),
        "stuckTasks": Fact(f"stuck tasks (over TASK_STUCK_AFTER, {stuck_after_s} s)", stuck),
        "unpublishedOutboxEvents": Fact("unpublished outbox events", unpublished),
        "setAsideOutboxEvents": Fact(
            "outbox events set aside (the broker refuses them; latest 10)", set_aside
        ),
    }


async def pools(settings: ServiceSettings) -> Section:
    """Each service's asyncpg pool, as the process that answers its health URL reports it."""

    async def one(client: httpx.AsyncClient, name: ServiceName) -> Any:
        try:
            response = await client.get(f"{settings.service_url(name)}/api/v1/{name}/health")
            return response.json().get("pool", "not reported")
        except (httpx.HTTPError, ValueError) as error:
            return f"unreachable ({type(error).__name__})"

    async with httpx.AsyncClient(timeout=settings.health_timeout_ms / 1000) as client:
        found = await asyncio.gather(*(one(client, name) for name in SERVICE_NAMES))
    return {name: Fact(name, usage) for name, usage in zip(SERVICE_NAMES, found, strict=True)}


async def redis(client: Redis, max_scanned: int = 100_000) -> Section:
    memory = await client.info("memory")
    keys = await client.dbsize()
    kinds: dict[str, int] = {}
    scanned = 0
    async for raw in client.scan_iter(count=1000):
        key = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        kind = next(
            (p.rstrip(":") for p in ("cache:", *PROTECTED_PREFIXES) if key.startswith(p)), "other"
        )
        kinds[kind] = kinds.get(kind, 0) + 1
        scanned += 1
        if scanned >= max_scanned:
            kinds["(not counted)"] = max(keys - scanned, 0)
            break
    return {
        "usedMemory": Fact("used memory", memory.get("used_memory_human")),
        "maxMemory": Fact("max memory (0B: no limit)", memory.get("maxmemory_human")),
        "maxMemoryPolicy": Fact("eviction policy", memory.get("maxmemory_policy")),
        "keys": Fact("keys", keys),
        "keysByKind": Fact("keys by kind", dict(sorted(kinds.items()))),
    }


async def kafka(settings: ServiceSettings, pool: asyncpg.Pool) -> Section:
    reading = await broker_stats.read_broker(settings, consumed_topics())
    offsets, groups = reading.offsets, reading.groups
    now = time.time()
    lag = {}
    for group in groups:
        waiting = reading.waiting(group, now)
        ages = [
            entry["oldestAgeS"] for entry in waiting.values() if entry["oldestAgeS"] is not None
        ]
        lag[group.group] = {
            "state": group.state,
            "members": group.members,
            "lag": sum(entry["waiting"] for entry in waiting.values()),
            "oldestAgeS": max(ages, default=None),
            "topics": waiting,
        }
    notes = []
    replayed = await replayed_counts(pool)
    if isinstance(replayed, str):
        notes.append(f"replayed counts: {replayed}")
    counts = broker_stats.dead_letter_counts(offsets)
    letters = {
        topic: {
            "messages": n,
            "replayed": replayed.get(topic, 0) if isinstance(replayed, dict) else None,
        }
        for topic, n in counts.items()
        if n
    }
    if offsets.under_reported:
        notes.append(
            f"the broker under-reported the end offset of {offsets.under_reported} partitions "
            "(the embedded Tansu does when a partition's last batch held several records); "
            "the figures use the ends read from the partitions themselves"
        )
    if any(group.subscriptions is None for group in groups):
        notes.append(
            "the broker does not name the topics of every group that is not one of the "
            "services' (Tansu sends no member metadata): partitions such a group never "
            "committed an offset on are not counted in its lag"
        )
    return {
        "consumerLag": Fact("consumer lag per group", lag),
        "deadLetters": Fact(
            "dead letters",
            {"total": sum(counts.values()), "topics": letters},
        ),
        "notes": Fact("notes", notes),
    }


async def replayed_counts(pool: asyncpg.Pool) -> dict[str, int] | str:
    """Dead letters replayed so far by topic (kept in Postgres), or why they are unknown: the
    broker's figures stand without them."""
    try:
        async with asyncio.timeout(10), pool.acquire() as connection:
            return await dead_letters.replayed_counts(connection)
    except TimeoutError:
        return "unavailable: the database did not answer within 10 s"
    except DATABASE_ERRORS as error:
        return f"unavailable: database: {error!r}"


async def dead_letter_summary(
    settings: ServiceSettings, pool: asyncpg.Pool
) -> tuple[list[dict[str, Any]], list[str]]:
    """Messages kept in each dead-letter topic (the broker's figures), each with the replays
    Postgres recorded; and notes on what could not be read: a database down leaves the
    broker's counts standing, with `replayed` unknown (None)."""
    kept = await broker_stats.dead_letters_kept(settings, dead_letters.topics())
    replayed = await replayed_counts(pool)
    known = replayed if isinstance(replayed, dict) else None
    items: list[dict[str, Any]] = [
        {
            "topic": topic,
            "messages": count,
            "replayed": known.get(topic, 0) if known is not None else None,
        }
        for topic, count in kept.items()
    ]
    return items, [] if known is not None else [f"replayed counts: {replayed}"]


async def _guarded(check: Awaitable[Section], limit_s: float) -> Section:
    try:
        async with asyncio.timeout(limit_s):
            return await check
    except TimeoutError:
        return {"error": Fact("error", f"unavailable: no answer within {limit_s:g} s")}
    except Exception as error:
        return {"error": Fact("error", f"unavailable: {error!r}")}


async def collect(settings: ServiceSettings, pool: asyncpg.Pool, client: Redis) -> Report:
    """Every section, gathered at once, each within its time limit."""
    database_facts, pool_facts, redis_facts, kafka_facts = await asyncio.gather(
        _guarded(database(pool, settings.task_stuck_after), 15),
        _guarded(pools(settings), 15),
        _guarded(redis(client), 15),
        _guarded(kafka(settings, pool), 30),
    )
    return {
        "database": database_facts,
        "pools": pool_facts,
        "redis": redis_facts,
        "kafka": kafka_facts,
    }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Database values JSON cannot carry as they are: decimals become floats, others text."""
    return {
        key: value
        if isinstance(value, int | str | list | None)
        else float(value)
        if isinstance(value, Decimal)
        else str(value)
        for key, value in row.items()
    }


def as_json(report: Report) -> dict[str, Any]:
    return {
        title: {key: fact.value for key, fact in facts.items()} for title, facts in report.items()
    }


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_inline(inner)}" for key, inner in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(_inline(item) for item in value) or "none"
    return str(value)


def _lines(name: str, value: Any, indent: str) -> list[str]:
    """A fact on one line when it fits; nested dicts and lists one item per line."""
    if isinstance(value, dict) and any(isinstance(v, dict) and v for v in value.values()):
        lines = [f"{indent}{name}:"]
        for key, inner in value.items():
            lines += _lines(str(key), inner, indent + "  ")
        return lines
    if isinstance(value, list) and value:
        return [f"{indent}{name}:"] + [f"{indent}  {_inline(item)}" for item in value]
    return [f"{indent}{name}: {_inline(value)}"]


def render(report: Report) -> str:
    lines = []
    for title, facts in report.items():
        lines.append(f"== {title}")
        for fact in facts.values():
            lines += _lines(fact.label, fact.value, "")
    return "\n".join(lines)
