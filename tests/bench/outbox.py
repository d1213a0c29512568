"""Outbox relay: events written through `enqueue` and published by `OutboxRelay`, against the
baseline of raw aiokafka producing the same number of envelope-sized messages (acks=all)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiokafka import AIOKafkaProducer

from shared.broker_epoch import BrokerEpoch
from shared.db import connect, create_pool
from shared.events import new_event
from shared.kafka import create_broker, create_relay_producer, ensure_topics, raw_publisher
from shared.migrations import migrate, service_migrations
from shared.outbox import OutboxRelay, enqueue
from shared.settings import ServiceSettings
from tests.bench.report import Row

EVENTS = 20_000


def raw_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """The floor every baseline produces with: bare aiokafka, acks=all, no linger."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=0
    )


async def produce(producer: AIOKafkaProducer, topic: str, payload: bytes, count: int) -> None:
    """`count` copies of `payload` over 64 keys, all sends in flight, until each is acked."""
    futures = [await producer.send(topic, payload, key=str(i % 64).encode()) for i in range(count)]
    await asyncio.gather(*futures)


async def _raw_produce(settings: ServiceSettings, topic: str, payload: bytes) -> float:
    producer = raw_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        await produce(producer, topic, payload, EVENTS)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _outbox_relay(settings: ServiceSettings, topic: str) -> tuple[float, float]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    connection = await connect(settings.database_url, schema)
    await migrate(connection, schema, service_migrations("tests"))
    pool = await create_pool(settings, schema)
    try:
        started = time.perf_counter()
        for start in range(0, EVENTS, 500):
            async with pool.acquire() as tx, tx.transaction():
                for i in range(start, start + 500):
                    await enqueue(tx, new_event(topic, "bench", {"n": i}), key=str(i % 64))
        write_s = time.perf_counter() - started
        broker = create_broker(settings, client_id="bench")
        await broker.start()
        epoch = BrokerEpoch(settings, raw_publisher(broker))
        await epoch.check(pool)
        await epoch.close()
        producer = create_relay_producer(settings, client_id="bench")
        await producer.start()
        relay = OutboxRelay(pool, producer, schema, epoch, batch_size=settings.outbox_batch_size)
        started = time.perf_counter()
        while await relay.publish_batch():
            pass
        publish_s = time.perf_counter() - started
        await producer.stop()
        await broker.stop()
        return write_s, publish_s
    finally:
        await pool.close()
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


async def measure(settings: ServiceSettings) -> list[Row]:
    topic = f"bench.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    sample = new_event(topic, "bench", {"n": 0}).model_dump(mode="json")
    raw_s = await _raw_produce(settings, topic, json.dumps(sample).encode())
    write_s, publish_s = await _outbox_relay(settings, topic)
    raw_rate = EVENTS / raw_s
    return [
        Row.of("raw aiokafka produce (baseline)", raw_rate, "events/s", None),
        Row.of("outbox relay publish", EVENTS / publish_s, "events/s", raw_rate),
        Row.of("outbox enqueue (500 per transaction)", EVENTS / write_s, "events/s", raw_rate),
    ]
