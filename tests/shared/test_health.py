"""Platform and per-service health, through the gateway."""

from __future__ import annotations

import logging

import pytest

from shared.health import EPOCH_UNKNOWN, overall, with_epoch
from shared.process_watch import check_memory

SERVICES = ("auth", "campaigns", "notifier", "agents")


async def test_platform_health_has_its_documented_shape(client):
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["services"]["database"] == "connected"
    assert body["services"]["redis"] == "connected"
    assert body["services"]["kafka"] == "connected"
    for name in SERVICES:
        assert body["services"][name] == "ok"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_answers_its_own_health(client, service):
    response = await client.get(f"/api/v1/{service}/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.pop("notes", None) == (
        {"openai": "not configured (templates)"} if service == "agents" else None
    )
    pool = body.pop("pool")  # this process's asyncpg pool, for the diagnostics
    assert set(pool) == {"size", "inUse", "idle", "min", "max", "status"}
    assert pool["status"] == "ok"  # "saturated", with a message, after callers were refused
    assert pool["inUse"] + pool["idle"] == pool["size"] <= pool["max"]
    broker = body.pop("broker")  # the broker's epoch, and whether it ever lost its data
    assert broker["epoch"] and set(broker) == {"epoch", "dataLostAt", "eventsRepublished"}
    process = body.pop("process")  # its memory and CPU, for diagnosing high memory usage
    assert 10 < process["rssMb"] < 2048 and process["cpuPercent"] >= 0
    assert body == {
        "status": "ok",
        "service": service,
        "services": {"database": "connected", "redis": "connected", "kafka": "connected"},
    }


async def test_docs_select_between_every_services_openapi(client):
    page = await client.get("/api/v1/docs")
    assert page.status_code == 200
    for name in SERVICES:
        assert f"/api/v1/{name}/openapi.json" in page.text
        spec = await client.get(f"/api/v1/{name}/openapi.json")
        assert spec.status_code == 200
        assert f"/api/v1/{name}/health" in spec.json()["paths"]


def test_memory_above_the_threshold_is_logged_as_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="shared.process_watch"):
        assert check_memory(warn_mb=16) is True  # any Python process is above 16 MiB
        assert check_memory(warn_mb=1_000_000) is False
    warnings = [r for r in caplog.records if r.getMessage() == "memory usage high"]
    assert len(warnings) == 1 and warnings[0].threshold_mb == 16 and warnings[0].rss_mb > 16


def test_a_service_that_does_not_know_the_broker_epoch_is_degraded():
    """Its relay holds every event back until the epoch is read: health must not say ok."""
    connected = {"database": "connected", "redis": "connected", "kafka": "connected"}
    assert overall(with_epoch(connected, epoch_known=True)) == "ok"
    waiting = with_epoch(connected, epoch_known=False)
    assert waiting["kafka"] == EPOCH_UNKNOWN and overall(waiting) == "degraded"
    down = {**connected, "kafka": "unreachable"}
    assert with_epoch(down, epoch_known=False) == down
