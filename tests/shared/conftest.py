"""Fixtures of the shared library's tests: an outbox of a schema of its own, and its relay; a
schema whose `effects` table consumer tests' handlers write to; a broker and a Redis of a
test's own."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.broker_epoch import BrokerEpoch
from shared.devstack.processes import free_port
from shared.devstack.servers import EmbeddedKafka, EmbeddedRedis
from shared.kafka import create_broker, create_relay_producer, raw_publisher
from shared.outbox import OutboxRelay
from shared.settings import ServiceSettings
from tests.helpers import private_schema


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    """An embedded broker only this test uses: killing it disturbs no other test."""
    broker = EmbeddedKafka(free_port(), tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """An embedded Redis only this test uses: restarting it disturbs no other test."""
    server = EmbeddedRedis(free_port(), tmp_path / "redis", tmp_path, secrets.token_hex(8))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker_settings(settings: ServiceSettings, own_broker: EmbeddedKafka) -> ServiceSettings:
    return settings.model_copy(update={"kafka_bootstrap_servers": own_broker.bootstrap_servers})


@pytest.fixture
async def outbox_schema(settings):
    async with private_schema(settings, "outbox") as made:
        yield made


@pytest.fixture
async def effects_schema(settings):
    """A schema of its own with an `effects (event_id, n)` table, as its pool."""
    async with private_schema(settings, "effects") as (_, pool):
        await pool.execute("CREATE TABLE effects (event_id uuid NOT NULL, n int NOT NULL)")
        yield pool


@pytest.fixture
async def relay(settings, outbox_schema):
    schema, pool = outbox_schema
    broker = create_broker(settings, client_id=f"test-{schema}")
    await broker.start()
    producer = create_relay_producer(settings, client_id=f"test-{schema}")
    await producer.start()
    epoch = BrokerEpoch(settings, raw_publisher(broker))
    await epoch.check(pool)
    relay = OutboxRelay(pool, producer, schema, epoch, batch_size=50, poll_interval=0.2)
    task = asyncio.create_task(relay.run())
    yield relay
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await epoch.close()
    await producer.stop()
    await broker.stop()
