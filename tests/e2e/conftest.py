"""The end-to-end package runs a platform of its own, set up as a production-like deployment:
two replicas each of agents and notifier behind the gateway, SMS and calls going to a fake
Twilio over HTTP (the real SDK talks to it), spans exported over OTLP to a collector in this
process, and a controllable clock (CLOCK_CONTROL) so that day-long delays run in seconds.

The fixtures carry the names of the session's (`platform`, `settings`, `client`, ...), so the
shared helpers work unchanged against this platform."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devstack.platform import Platform, isolated_settings
from shared.settings import ServiceSettings
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LAST_RUN_LOGS,
    TWILIO_TOKEN,
    admin_login,
    running,
)
from tests.e2e.collector import SpanCollector
from tests.fakes import Reply, ScriptedServer, scripted_server

TWILIO_SID = "AC" + "e2e0" * 8
TWILIO_FROM = "+15005550006"


@pytest.fixture(scope="package")
def twilio() -> Iterator[ScriptedServer]:
    """Twilio's REST API as far as the SDK needs it: every create answers with a resource."""
    with scripted_server() as server:
        server.script(Reply(201, {"sid": "SM" + "0" * 32, "status": "queued"}))
        yield server


@pytest.fixture(scope="package")
def spans() -> Iterator[SpanCollector]:
    with SpanCollector() as collector:
        yield collector


@pytest.fixture(scope="package")
def platform(twilio: ScriptedServer, spans: SpanCollector) -> Iterator[Platform]:
    state_dir = Path(tempfile.mkdtemp(prefix="remit-e2e-"))
    stack = Platform(
        isolated_settings(state_dir),
        extra_env={
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CLOCK_CONTROL": "true",
            "OUTBOX_POLL_INTERVAL_MS": "200",
            "SCHEDULER_INTERVAL_MS": "200",
            "CONTACT_DAYS": "mon,tue,wed,thu,fri,sat,sun",
            "STEP_RETRY_DELAY": "1",
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": TWILIO_FROM,
            "TWILIO_API_URL": twilio.url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": spans.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "LOG_LEVEL": "INFO",
        },
        replicas={"agents": 2, "notifier": 2},
    )
    with running(stack, LAST_RUN_LOGS.parent / "test-logs-e2e"):
        yield stack


@pytest.fixture(scope="package")
def settings(platform: Platform) -> ServiceSettings:
    return platform.service_settings()


@pytest.fixture(scope="package")
def gateway_url(platform: Platform) -> str:
    assert platform.gateway is not None
    return platform.gateway.url


# `client` is the session's: it asks for `gateway_url`, which resolves to this package's.


@pytest.fixture(scope="package")
async def admin_token(gateway_url: str) -> str:
    return await admin_login(gateway_url)
