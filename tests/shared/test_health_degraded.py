"""Health turns 503 `degraded`, naming the part that is down, and recovers by itself."""

from __future__ import annotations

import asyncio
import signal
import uuid

import pytest

from tests.agents_helpers import directory_row
from tests.auth_helpers import bearer
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.helpers import eventually, publish_raw, user_created

pytestmark = pytest.mark.faults

# One API call per service that needs its database (through the gateway, as an admin).
DATABASE_CALLS = {
    "auth": "/api/v1/users?limit=1",
    "campaigns": "/api/v1/campaigns?limit=1",
    "agents": "/api/v1/agents",
    "notifier": "/api/v1/messages?limit=1",
}


async def _health(client):
    return await client.get("/api/v1/health")


async def _every_service(client, token):
    """Each service's own health and its database call, by service."""

    async def one(service):
        health = await client.get(f"/api/v1/{service}/health")
        call = await client.get(DATABASE_CALLS[service], headers=bearer(token))
        return health, call

    answers = await asyncio.gather(*(one(name) for name in DATABASE_CALLS))
    return dict(zip(DATABASE_CALLS, answers, strict=True))


def _all_down(answers) -> bool:
    return all(h.status_code == 503 and c.status_code == 503 for h, c in answers.values())


def _all_up(answers) -> bool:
    return all(h.status_code == 200 and c.status_code == 200 for h, c in answers.values())


async def test_redis_down_degrades_health_and_recovers(platform, client):
    if platform.redis is None:
        pytest.skip("Redis is external (REDIS_URL given); cannot stop it from here")
    platform.redis.stop()
    try:
        down = await eventually(lambda: _health(client), lambda r: r.status_code == 503)
        body = down.json()
        assert body["status"] == "degraded"
        assert body["services"]["redis"] == "disconnected"
        assert body["services"]["database"] == "connected"
        service = await client.get("/api/v1/campaigns/health")
        assert service.status_code == 503
        assert service.json()["services"]["redis"] == "disconnected"
        # Rate limits and token revocation fail open: sign-in and the API keep working.
        login = await client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200
        assert "x-ratelimit-limit" not in login.headers
        me = await client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['accessToken']}"}
        )
        assert me.status_code == 200
    finally:
        platform.redis.start()
    await eventually(lambda: _health(client), lambda r: r.status_code == 200)


async def test_postgres_down_degrades_health_and_api_answers_503(
    platform, settings, client, admin_token
):
    """Every service's health turns 503 `degraded` naming the database, every service's API
    answers 503 in the error shape with no internals, and all recover by themselves."""
    if platform.postgres is None:
        pytest.skip("Postgres is external (DATABASE_URL given); cannot stop it from here")
    user_id = uuid.uuid4()
    # Every service has verified a token (and cached auth's keys) before the outage.
    assert _all_up(await _every_service(client, admin_token))
    platform.postgres.stop()
    try:
        down = await eventually(lambda: _health(client), lambda r: r.status_code == 503)
        assert down.json()["status"] == "degraded"
        assert down.json()["services"]["database"] == "disconnected"
        answers = await eventually(lambda: _every_service(client, admin_token), _all_down)
        for service, (health, call) in answers.items():
            assert health.json()["status"] == "degraded", service
            assert health.json()["services"]["database"] == "disconnected", service
            assert health.json()["services"]["redis"] == "connected", service
            assert call.json() == {
                "error": "Service unavailable",
                "details": "Database is unavailable",
                "requestId": call.headers["x-request-id"],
            }, service
            assert "Traceback" not in call.text and "asyncpg" not in call.text, service
        login = await client.post(
            "/api/v1/auth/login", json={"email": "someone@example.com", "password": "x"}
        )
        assert login.status_code == 503
        body = login.json()
        assert body["error"] == "Service unavailable"
        assert body["details"] == "Database is unavailable"
        assert body["requestId"] == login.headers["x-request-id"]
        assert "Traceback" not in login.text
        # An event arriving during the outage waits for the database instead of being lost.
        event = user_created(user_id, "during-outage@example.com")
        await publish_raw(
            settings.kafka_bootstrap_servers,
            "user.created",
            [(str(user_id).encode(), event.model_dump_json().encode())],
        )
        await asyncio.sleep(2)
    finally:
        platform.postgres.start()
    await eventually(lambda: _health(client), lambda r: r.status_code == 200, timeout=60)
    # Nothing restarted: each service's pool reconnects, and health and API answer again.
    await eventually(lambda: _every_service(client, admin_token), _all_up, timeout=60)
    row = await eventually(lambda: directory_row(settings, user_id), lambda r: r is not None)
    assert row["email"] == "during-outage@example.com"
    login = await client.post(
        "/api/v1/auth/login", json={"email": "someone@example.com", "password": "x"}
    )
    assert login.status_code == 401


async def test_broker_paused_degrades_health_and_recovers(platform, client):
    if platform.kafka is None:
        pytest.skip("broker is external (KAFKA_BOOTSTRAP_SERVERS given); cannot pause it")
    platform.kafka.process.signal(signal.SIGSTOP)
    try:
        down = await eventually(lambda: _health(client), lambda r: r.status_code == 503)
        assert down.json()["services"]["kafka"] == "disconnected"
    finally:
        platform.kafka.process.signal(signal.SIGCONT)
    await eventually(lambda: _health(client), lambda r: r.status_code == 200)


async def test_a_stopped_service_is_named_in_platform_health(platform, client):
    notifier = platform.services["notifier"]
    notifier.stop()
    try:
        down = await eventually(lambda: _health(client), lambda r: r.status_code == 503)
        assert down.json()["status"] == "degraded"
        assert down.json()["services"]["notifier"] == "unreachable"
        assert down.json()["services"]["auth"] == "ok"
    finally:
        notifier.start()
    await eventually(lambda: _health(client), lambda r: r.status_code == 200, timeout=60)
