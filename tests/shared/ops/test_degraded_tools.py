"""The operators' tools when a part is down, and signals that name the real cause: each
section of `remit diagnose`, `remit dlq list` and `GET /api/v1/diagnostics` stands or says
`unavailable: <reason>` on its own; an exhausted pool is not a dead database; a statement
stopped by the statement timeout says so."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from httpx import ASGITransport, AsyncClient, Response
from redis.asyncio import Redis

from shared.db import create_pool, pool_usage
from shared.health import dependency_health
from shared.http import install_http_edge
from tests.auth_helpers import bearer
from tests.helpers import run_remit

DEAD_DATABASE = "postgresql://remit:nothing@127.0.0.1:1/remit"


def _env(platform: Any, **down: str) -> dict[str, str]:
    return {**os.environ, **platform.env, **down}


async def _diagnose(env: dict[str, str]) -> dict[str, Any]:
    result = await asyncio.to_thread(run_remit, "diagnose", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def test_diagnose_with_postgres_down_reports_the_other_sections(platform):
    report = await _diagnose(
        _env(platform, DATABASE_URL=DEAD_DATABASE, OPERATOR_DATABASE_URL=DEAD_DATABASE)
    )
    assert report["database"]["error"].startswith("unavailable:")
    assert "error" not in report["redis"] and report["redis"]["keys"] >= 0
    # The broker's figures stand; only the replay counts (kept in Postgres) are missing.
    assert "error" not in report["kafka"]
    assert "consumerLag" in report["kafka"]
    assert any("replayed counts: unavailable: database" in n for n in report["kafka"]["notes"])


async def test_diagnose_with_the_broker_or_redis_down_reports_the_database(platform):
    report = await _diagnose(
        _env(platform, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", REDIS_URL="redis://127.0.0.1:1/0")
    )
    assert report["kafka"]["error"].startswith("unavailable:")
    assert report["redis"]["error"].startswith("unavailable:")
    assert "error" not in report["database"]
    assert isinstance(report["database"]["lockWaits"], list)
    assert isinstance(report["database"]["slowQueries"], list)


async def test_dlq_list_says_which_part_is_down(platform):
    no_database = await asyncio.to_thread(
        run_remit, "dlq", "list", env=_env(platform, DATABASE_URL=DEAD_DATABASE)
    )
    assert no_database.returncode == 0, no_database.stderr
    assert "replayed counts: unavailable: database" in no_database.stdout
    no_broker = await asyncio.to_thread(
        run_remit, "dlq", "list", env=_env(platform, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    )
    assert no_broker.returncode == 1
    assert "dead letters: unavailable: Kafka" in no_broker.stderr
    assert "Traceback" not in no_broker.stderr and "Unclosed" not in no_broker.stderr


async def test_dlq_replay_says_which_part_is_down(platform):
    replay = ("dlq", "replay", "user.created.dlq", "--all")
    no_broker = await asyncio.to_thread(
        run_remit, *replay, env=_env(platform, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    )
    assert no_broker.returncode == 1
    assert "dead letters: unavailable: Kafka" in no_broker.stderr
    no_database = await asyncio.to_thread(
        run_remit, *replay, env=_env(platform, DATABASE_URL=DEAD_DATABASE)
    )
    assert no_database.returncode == 1
    assert "replay: unavailable: database" in no_database.stderr
    for result in (no_broker, no_database):
        assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("server", "section"), [("postgres", "database"), ("redis", "redis")])
async def test_the_diagnostics_api_with_a_server_stopped(
    platform, client, admin_token, server, section
):
    stopped = getattr(platform, server)
    if stopped is None:
        pytest.skip(f"external {server}; cannot stop it")
    # Auth has its signing keys in hand (read once from Postgres) before the server goes away.
    warm = await client.get("/api/v1/diagnostics/dead-letters", headers=bearer(admin_token))
    assert warm.status_code == 200, warm.text
    await asyncio.to_thread(stopped.stop)
    try:
        answer = await client.get("/api/v1/diagnostics", headers=bearer(admin_token))
    finally:
        await asyncio.to_thread(stopped.start)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report[section]["error"].startswith("unavailable:")
    others = {"database", "redis", "kafka"} - {section}
    assert all("error" not in report[other] for other in others), report
    await asyncio.to_thread(platform.wait_healthy)


@pytest.fixture
async def small_pool(settings):
    """A pool of one connection that turns callers away after 0.5 s, whose statements Postgres
    stops after 1 s."""
    tight = settings.model_copy(
        update={
            "database_pool_min": 0,
            "database_pool_max": 1,
            "database_pool_timeout": 0.5,
            "database_statement_timeout": 1.0,
        }
    )
    pool = await create_pool(tight, "campaigns")
    yield pool
    await pool.close()


def _app(pool: Any) -> FastAPI:
    app = FastAPI()
    install_http_edge(app, "tests", slow_request_ms=60_000)

    @app.get("/sleep")
    async def sleep() -> None:
        await pool.execute("SELECT pg_sleep(3)")

    @app.get("/one")
    async def one() -> int:
        return int(await pool.fetchval("SELECT 1"))

    return app


async def _get(app: FastAPI, path: str) -> Any:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as http:
        return await http.get(path, headers={"X-Request-ID": "slow-1"})


async def test_a_statement_stopped_by_the_timeout_says_the_query_timed_out(small_pool):
    answer = await _get(_app(small_pool), "/sleep")
    assert answer.status_code == 504
    body = answer.json()
    assert body["details"].startswith("Database query timed out")
    assert "Database is unavailable" not in answer.text
    assert body["requestId"] == "slow-1"


async def test_an_exhausted_pool_is_not_a_dead_database(settings, small_pool):
    app = _app(small_pool)
    async with small_pool.acquire():  # the pool's only connection, held
        refused = await _get(app, "/one")
        assert refused.status_code == 503
        assert refused.json()["details"] == "Connection pool exhausted"
        usage = pool_usage(small_pool)
        assert usage["status"] == "saturated"
        assert usage["message"].startswith("Connection pool exhausted")
        redis = Redis.from_url(settings.redis_url)
        try:
            health = await dependency_health(
                small_pool, settings.database_url, redis, KafkaBroker("127.0.0.1:1"), 2.0
            )
        finally:
            await redis.aclose()
    assert health["database"] == "connected"
    assert health["redis"] == "connected"


@pytest.mark.timeout(180)
async def test_a_service_whose_pool_is_held_by_lock_waits(platform, settings, client, admin_token):
    """Customers locked by someone's open transaction: the campaigns service's requests wait
    for the lock, its pool runs dry, and later callers are turned away. The platform's health
    says why (the pool, not the database), and `remit diagnose` shows the lock waits."""
    holder = await asyncpg.connect(settings.database_url)
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE campaigns.customers IN ACCESS EXCLUSIVE MODE")
    holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
    waiting = [
        asyncio.create_task(client.get("/api/v1/customers", headers=bearer(admin_token)))
        for _ in range(settings.database_pool_max + 4)
    ]
    try:
        # The callers past the pool's size are turned away after DATABASE_POOL_TIMEOUT; the
        # rest wait on the lock until it is released.
        turned_away: list[Response] = []
        pending: set[asyncio.Task[Response]] = set(waiting)
        async with asyncio.timeout(settings.database_pool_timeout + 15):
            while pending and not turned_away:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                turned_away += [task.result() for task in done if task.result().status_code == 503]
        assert turned_away, "no caller was turned away"
        assert turned_away[0].json()["details"] == "Connection pool exhausted"

        health = (await client.get("/api/v1/health")).json()
        assert health["services"]["database"] == "connected"
        assert health["services"]["campaigns"] == "degraded"
        assert health["causes"]["campaigns"].startswith("Connection pool exhausted")

        report = await _diagnose(_env(platform))
        waits = report["database"]["lockWaits"]
        assert any(holder_pid in wait["blocked_by"] for wait in waits), waits
        # Waiting that long, they are slow queries too (over 5 s).
        slow = {query["pid"] for query in report["database"]["slowQueries"]}
        assert slow & {wait["pid"] for wait in waits}
    finally:
        await transaction.rollback()
        await holder.close()
        await asyncio.gather(*waiting, return_exceptions=True)
