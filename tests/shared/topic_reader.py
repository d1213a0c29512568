"""Reading a topic from its start, as the tests of what was published need."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_event_ids(settings, topic: str, expected: int, timeout: float = 60) -> list[str]:
    return [event_id(record) for record in await read_records(settings, topic, expected, timeout)]


def numbers(records: list[ConsumerRecord[bytes, bytes]]) -> list[int]:
    """The `n` each record's payload carries (tests number the events they write)."""
    return [json.loads(record.value or b"{}")["payload"]["n"] for record in records]


def event_id(record: ConsumerRecord[bytes, bytes]) -> str:
    return str(json.loads(record.value or b"{}")["event_id"])


async def read_records(
    settings, topic: str, expected: int, timeout: float = 60
) -> list[ConsumerRecord[bytes, bytes]]:
    """The topic's records from the start, until `expected` distinct events were seen. Its
    partitions are assigned by hand: no group to join (a join waits for seconds)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.topics()  # the cluster's metadata, this topic's partitions included
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
        async with asyncio.timeout(timeout):
            while len({event_id(record) for record in records}) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records
