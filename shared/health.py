"""Health of a service's dependencies, and of the whole platform."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from shared.db import SATURATED, all_lent_out
from shared.settings import SERVICE_NAMES, ServiceSettings

CONNECTED = "connected"
DISCONNECTED = "disconnected"


async def _database(pool: asyncpg.Pool, database_url: str, limit_s: float) -> str:
    try:
        async with asyncio.timeout(limit_s):
            if not all_lent_out(pool):
                await pool.fetchval("SELECT 1")
                return CONNECTED
            # Waiting for a pooled connection would say nothing about Postgres (the pool's
            # own health says it is saturated): ask Postgres on a connection of this check's.
            connection = await asyncpg.connect(
                database_url, server_settings={"application_name": "health check"}
            )
            try:
                await connection.fetchval("SELECT 1")
            finally:
                await connection.close()
    except Exception:
        return DISCONNECTED
    return CONNECTED


async def _redis(redis: Redis, limit_s: float) -> str:
    try:
        async with asyncio.timeout(limit_s):
            await redis.ping()
    except Exception:
        return DISCONNECTED
    return CONNECTED


async def _kafka(broker: KafkaBroker, limit_s: float) -> str:
    try:
        return CONNECTED if await broker.ping(limit_s) else DISCONNECTED
    except Exception:
        return DISCONNECTED


async def dependency_health(
    pool: asyncpg.Pool, database_url: str, redis: Redis, broker: KafkaBroker, limit_s: float
) -> dict[str, str]:
    database, cache, kafka = await asyncio.gather(
        _database(pool, database_url, limit_s), _redis(redis, limit_s), _kafka(broker, limit_s)
    )
    return {"database": database, "redis": cache, "kafka": kafka}


EPOCH_UNKNOWN = "connected, broker epoch not yet known (events wait in the outbox)"


def with_epoch(parts: dict[str, str], epoch_known: bool) -> dict[str, str]:
    """A connected broker whose epoch this service has not read yet is not healthy: the
    relay publishes nothing until it knows which broker it talks to."""
    if epoch_known or parts.get("kafka") != CONNECTED:
        return parts
    return {**parts, "kafka": EPOCH_UNKNOWN}


def overall(parts: dict[str, str]) -> str:
    healthy = {CONNECTED, "ok"}
    return "ok" if all(state in healthy for state in parts.values()) else "degraded"


async def _service_status(client: httpx.AsyncClient, url: str) -> tuple[str, str | None]:
    """A service's own verdict, and why when it is not `ok`."""
    try:
        response = await client.get(url)
    except httpx.HTTPError as error:
        return "unreachable", f"no answer from {url} ({type(error).__name__})"
    if response.status_code == 200:
        return "ok", None
    try:
        body = response.json()
    except ValueError:
        return "degraded", f"{url} answered {response.status_code}"
    return str(body.get("status", "degraded")), _cause(body)


def _cause(body: dict[str, Any]) -> str | None:
    """Why a service's health is not ok: its pool turned callers away (the database itself
    answers), or which of its dependencies it cannot reach."""
    pool = body.get("pool") or {}
    if pool.get("status") == SATURATED:
        return str(pool.get("message") or "Connection pool exhausted")
    parts = body.get("services") or {}
    down = [f"{name}: {state}" for name, state in parts.items() if state not in (CONNECTED, "ok")]
    return "; ".join(down) or None


async def platform_health(settings: ServiceSettings, own: dict[str, str]) -> dict[str, Any]:
    """The seed's shape: shared dependencies as seen from here, plus every service's own
    verdict; `causes` says, for each service that is not ok, why."""
    timeout = settings.health_timeout_ms / 1000
    async with httpx.AsyncClient(timeout=timeout) as client:
        reports = await asyncio.gather(
            *(
                _service_status(client, f"{settings.service_url(name)}/api/v1/{name}/health")
                for name in SERVICE_NAMES
            )
        )
    statuses: dict[str, str] = {
        name: status for name, (status, _) in zip(SERVICE_NAMES, reports, strict=True)
    }
    services: dict[str, str] = {**own, **statuses}
    body: dict[str, Any] = {"status": overall(services), "services": services}
    causes = {name: cause for name, (_, cause) in zip(SERVICE_NAMES, reports, strict=True) if cause}
    if causes:
        body["causes"] = causes
    return body
