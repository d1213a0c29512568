"""`remit diagnose`: the troubleshooting guide's checks, run against our platform."""

from __future__ import annotations

from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.settings import SERVICE_NAMES


async def database(database_url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(database_url)
    try:
        by_state = await connection.fetch(
            "SELECT coalesce(state, 'background') AS state, count(*) FROM pg_stat_activity "
            "GROUP BY 1 ORDER BY 2 DESC"
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
        if await connection.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ):
            slowest: Any = [
                dict(row)
                for row in await connection.fetch(
                    "SELECT left(query, 80) AS query, calls, "
                    "round(mean_exec_time::numeric, 2) AS mean_ms, "
                    "round(total_exec_time::numeric, 2) AS total_ms FROM pg_stat_statements "
                    "ORDER BY mean_exec_time DESC LIMIT 10"
                )
            ]
        else:
            slowest = "pg_stat_statements is not installed (CREATE EXTENSION pg_stat_statements)"
        stuck = await connection.fetchval(
            "SELECT count(*) FROM agents.tasks WHERE status IN ('assigned', 'in_progress') "
            "AND updated_at < now() - interval '1 hour'"
        )
        unpublished = {
            name: await connection.fetchval(
                f'SELECT count(*) FROM "{name}".outbox WHERE published_at IS NULL'
            )
            for name in SERVICE_NAMES
        }
    finally:
        await connection.close()
    return {
        "connections by state": {row["state"]: row["count"] for row in by_state},
        "database size": size,
        "active queries": active,
        "more sequential than index scans": [dict(row) for row in scans],
        "slowest statements": slowest,
        "stuck tasks (over 1 h)": stuck,
        "unpublished outbox events": unpublished,
    }


async def redis(redis_url: str) -> dict[str, Any]:
    client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        memory = await client.info("memory")
        keys = await client.dbsize()
    finally:
        await client.aclose()
    return {"used memory": memory.get("used_memory_human"), "keys": keys}


def render(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for title, facts in sections.items():
        lines.append(f"== {title}")
        for name, value in facts.items():
            if isinstance(value, list):
                lines.append(f"{name}:" + ("" if value else " none"))
                lines += [f"  {item}" for item in value]
            else:
                lines.append(f"{name}: {value}")
    return "\n".join(lines)
