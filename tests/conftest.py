"""The test session runs the real platform: embedded Postgres, Redis and Kafka-protocol broker
(or the ones named by DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS, or testcontainers
with TEST_INFRA=containers), the four services as processes, and the Caddy gateway."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from services.auth.settings import AuthSettings
from shared.devstack.platform import Platform, isolated_settings
from shared.ops.cli import bootstrap_admin, migrate_all
from shared.settings import ServiceSettings
from tests.infra import containers_env

LAST_RUN_LOGS = Path(__file__).resolve().parents[1] / ".state" / "test-logs"
TWILIO_TOKEN = "test-twilio-auth-token"
STRIPE_WEBHOOK_SECRET = "whsec_test_remit"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct-horse-battery-staple"


@contextmanager
def running(stack: Platform, logs_to: Path) -> Iterator[Platform]:
    """The whole platform up for a test session (or package); its logs kept in `logs_to`."""
    try:
        stack.start_infrastructure()
        migrate_all(stack.migration_url)
        bootstrap_admin(stack.settings_for(AuthSettings))
        stack.start_services()
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop()
        # Keep the services' logs of the last run where a failing test can be read against them.
        shutil.rmtree(logs_to, ignore_errors=True)
        shutil.copytree(stack.log_dir, logs_to, dirs_exist_ok=True)
        shutil.rmtree(stack.state_dir, ignore_errors=True)


async def admin_login(gateway_url: str) -> str:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`fast`: a test that needs no running platform (pure logic, fakes at the boundary);
    `make test-fast` runs only those. A module that starts servers of its own says so with
    `pytestmark = pytest.mark.servers`."""
    for item in items:
        needs_platform = "platform" in getattr(item, "fixturenames", ())
        if not needs_platform and item.get_closest_marker("servers") is None:
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    state_dir = Path(tempfile.mkdtemp(prefix="remit-test-"))
    external = containers_env() if os.environ.get("TEST_INFRA") == "containers" else {}
    stack_settings = isolated_settings(state_dir).model_copy(
        update={key.lower(): value for key, value in external.items()}
    )
    stack = Platform(
        stack_settings,
        extra_env={
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "OUTBOX_POLL_INTERVAL_MS": "200",
            "SCHEDULER_INTERVAL_MS": "200",
            # Every day is a contact day, so tests pick a zone where it is daytime now.
            "CONTACT_DAYS": "mon,tue,wed,thu,fri,sat,sun",
            "STEP_RETRY_DELAY": "1",
            # AI tasks a killed worker left half done are taken up again within seconds.
            "AI_TASK_LEASE": "5",
            # A stalled SMTP server is given up on within seconds, and a send a crash left
            # `sending` is settled `unknown` soon after; a step unheard of is asked for again.
            "SMTP_TIMEOUT_S": "3",
            "SEND_DEADLINE_S": "10",
            "SENDING_SETTLE_AFTER_S": "20",
            "STEP_REDRIVE_AFTER_S": "30",
            "SHUTDOWN_DRAIN_S": "5",
            # Webhooks are verified with this token; with no account SID, sends stay simulated.
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "LOG_LEVEL": "INFO",
            # Every test signs in from 127.0.0.1 (through the console too): hundreds of
            # sign-ins a run. The limit's own tests run a replica of their own with tight limits.
            "LOGIN_RATE_LIMIT_PER_IP": "100000",
            # And most tests act as the one admin: well over the 1,000 calls a caller may make
            # in a window, by the end of a run.
            "API_RATE_LIMIT": "100000",
            # Stripe's webhooks, signed by the tests (no Stripe key: the simulated provider
            # takes the portal's payments).
            "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        },
    )
    with running(stack, LAST_RUN_LOGS):
        yield stack


@pytest.fixture(scope="session")
def settings(platform: Platform) -> ServiceSettings:
    """The settings every service shares, as the services see them, for tests that use the
    shared library directly (`platform.settings_for(AuthSettings)` gives a service's own)."""
    return platform.service_settings()


@pytest.fixture(scope="session")
def gateway_url(platform: Platform) -> str:
    assert platform.gateway is not None
    return platform.gateway.url


@pytest.fixture
async def client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        yield http


# The admin's access token for the session's platform, with when it was signed in.
_admin_tokens: dict[str, tuple[float, str]] = {}


@pytest.fixture
async def admin_token(gateway_url: str) -> str:
    """An admin's access token, signed in once and again after ten minutes: a run of the whole
    suite outlasts one token (ACCESS_TOKEN_TTL, 15 minutes)."""
    signed_in = _admin_tokens.get(gateway_url)
    if signed_in is None or time.monotonic() - signed_in[0] > 600:
        signed_in = (time.monotonic(), await admin_login(gateway_url))
        _admin_tokens[gateway_url] = signed_in
    return signed_in[1]


@pytest.fixture
async def portal_budget(settings: ServiceSettings) -> None:
    """The test starts with the whole portal budget of its address: every test opens links
    from 127.0.0.1, far more than one address may in a window (its own test exhausts it)."""
    redis = Redis.from_url(settings.redis_url)
    try:
        async for key in redis.scan_iter("ratelimit:LIMITER/portal-ip/*"):
            await redis.delete(key)
    finally:
        await redis.aclose()
