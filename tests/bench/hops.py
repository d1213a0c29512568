"""The pipeline's baseline: a bare script doing the same kind of hops on the same stack.

Three consumer groups in a chain (`a` → `b` → `c` → done), each over its own topic, batched: a
hop takes what the broker has (up to 500 records), writes one row per record and produces one
event per record in one Postgres transaction per batch, then commits the batch's offsets. No
framework, no outbox, no idempotence records, no tracing: the floor our pipeline's hops (step
due → task → message requested → message sent) are measured against.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.db import connect
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from tests.bench.outbox import produce, raw_producer

HOPS = 3
BATCH = 500


async def _hop(
    settings: ServiceSettings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    source: str,
    target: str | None,
    table: str,
    expected: int,
) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"bench-{source}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    done = 0
    try:
        while done < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=BATCH)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    f"INSERT INTO {table} (id, body) SELECT * FROM unnest($1::uuid[], $2::bytea[])",
                    [uuid.uuid4() for _ in records],
                    [record.value for record in records],
                )
                if target is not None:
                    sent = [
                        await producer.send(target, record.value, key=record.key)
                        for record in records
                    ]
                    await asyncio.gather(*sent)
            await consumer.commit()
            done += len(records)
    finally:
        await consumer.stop()


async def measure(settings: ServiceSettings, payload: bytes, count: int) -> float:
    """Seconds from the first event produced to the last hop's last row written."""
    run = uuid.uuid4().hex[:8]
    topics = [f"bench.hop_{run}_{n}" for n in range(HOPS)]
    await ensure_topics(settings, topics)
    schema = f"bench_hops_{run}"
    setup = await connect(settings.database_url, schema)
    await setup.execute(f"CREATE SCHEMA {schema}")
    for n in range(HOPS):
        await setup.execute(f"CREATE TABLE {schema}.hop_{n} (id uuid PRIMARY KEY, body bytea)")
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=HOPS, max_size=HOPS * 2,
        server_settings={"search_path": schema},
    )  # fmt: skip
    producer = raw_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        await asyncio.gather(
            produce(producer, topics[0], payload, count),
            *(
                _hop(
                    settings,
                    pool,
                    producer,
                    topics[n],
                    topics[n + 1] if n + 1 < HOPS else None,
                    f"hop_{n}",
                    count,
                )
                for n in range(HOPS)
            ),
        )
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await pool.close()
        await setup.execute(f"DROP SCHEMA {schema} CASCADE")
        await setup.close()
