"""A broker that lost its data (killed and started again, memory only) has the same topics and
group names but younger logs: no offset counted in the lost broker's logs may steer a consumer
of the new one. Each test runs a broker of its own, so that killing it disturbs no other test."""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownError

from shared.consumer import EventConsumer, Subscription
from shared.db import Connection
from shared.events import Envelope
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from tests.helpers import eventually, publish_raw


class _Recorder:
    """Records each event's effect; holds the event numbered `hold` until `release` is set."""

    def __init__(self, hold: int | None = None) -> None:
        self.hold = hold
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, connection: Connection, event: Envelope) -> None:
        n = int(event.payload["n"])
        await connection.execute("INSERT INTO effects VALUES ($1, $2)", event.event_id, n)
        if n == self.hold:
            self.holding.set()
            await self.release.wait()


def _records(numbers: range) -> list[tuple[bytes, bytes]]:
    events = (Envelope(type="test.happened", producer="tests", payload={"n": n}) for n in numbers)
    return [(b"k", event.model_dump_json().encode()) for event in events]


async def _committed(settings: ServiceSettings, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else -1


async def _commit_outside(
    settings: ServiceSettings, group: str, tp: TopicPartition, at: int
) -> None:
    """What a replica that has not noticed the loss leaves behind: an offset of the old log."""
    stale = AIOKafkaConsumer(
        group_id=group, bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await stale.start()
    try:
        stale.assign([tp])
        await stale.commit({tp: at})
    finally:
        await stale.stop()


async def test_a_consumer_joined_after_the_broker_lost_its_data_reads_from_the_start(
    broker_settings, effects_schema
):
    """The group holds an offset far past the new log's end (Kafka would answer 'out of
    range' and reset; the embedded broker answers nothing, so a consumer there would wait for
    good). Told the broker lost its data, the consumer reads each partition from its start."""
    settings, run = broker_settings, uuid.uuid4().hex[:8]
    topic, group = f"tests.loss_{run}", f"loss-{run}"
    tp = TopicPartition(topic, 0)
    await ensure_topics(settings, [topic], partitions=1)
    await publish_raw(settings.kafka_bootstrap_servers, topic, _records(range(3)))
    await _commit_outside(settings, group, tp, 100)
    consumer = EventConsumer(
        effects_schema,
        settings,
        group,
        [Subscription(topic, "effects", _Recorder())],
        _no_dead_letters,
    )
    consumer.broker_lost()
    running = asyncio.create_task(consumer.run())
    try:
        found = await eventually(
            lambda: effects_schema.fetch("SELECT n FROM effects ORDER BY n"),
            lambda rows: len(rows) == 3,
        )
        assert [row["n"] for row in found] == [0, 1, 2]
        await eventually(lambda: _committed(settings, group, tp), lambda offset: offset == 3)
    finally:
        await consumer.stop()
        await running


@pytest.mark.parametrize("released", ["while its partition is revoked", "after the rejoin"])
async def test_a_batch_handled_across_a_broker_restart_commits_nothing_to_the_new_broker(
    broker_settings, own_broker, effects_schema, caplog, released
):
    """The broker is killed while a batch is being handled and a fresh one comes up on the same
    port; the consumer, not yet told of the loss, rejoins its group there. The batch's offset
    counts the lost log (5 events; the new one holds 1): committing it would leave the group
    past the new log's end, where the consumer would wait for good. The batch finishes while
    the rejoin waits for it, or after it: either way its offset is not committed, and the new
    log is read from its start."""
    caplog.set_level(logging.INFO, logger="aiokafka.consumer.group_coordinator")
    settings, run = broker_settings, uuid.uuid4().hex[:8]
    topic, group = f"tests.loss_{run}", f"loss-{run}"
    tp = TopicPartition(topic, 0)
    await ensure_topics(settings, [topic], partitions=1)
    recorder = _Recorder(hold=4)
    consumer = EventConsumer(
        effects_schema,
        settings,
        group,
        [Subscription(topic, "effects", recorder)],
        _no_dead_letters,
    )
    running = asyncio.create_task(consumer.run())
    try:
        await publish_raw(settings.kafka_bootstrap_servers, topic, _records(range(5)))
        await asyncio.wait_for(recorder.holding.wait(), 30)
        own_broker.process.signal(signal.SIGKILL)
        await asyncio.to_thread(own_broker.stop)
        revokes = await _revokes(caplog)
        await asyncio.to_thread(own_broker.start)
        await ensure_topics(settings, [topic], partitions=1)
        await _publish_to_new_topic(settings, topic, _records(range(10, 11)))
        if released == "while its partition is revoked":
            await eventually(lambda: _revokes(caplog), lambda seen: seen > revokes)
            recorder.release.set()
        # The consumer takes the new log from its start: the group's member again.
        await eventually(
            lambda: effects_schema.fetch("SELECT n FROM effects WHERE n = 10"),
            lambda rows: rows != [],
            timeout=60,
        )
        recorder.release.set()
        await eventually(lambda: _committed(settings, group, tp), lambda offset: offset == 1)
        await asyncio.sleep(2)  # time for the held batch's commit, were it to be sent
        assert await _committed(settings, group, tp) == 1
    finally:
        recorder.release.set()
        await consumer.stop()
        await running


async def _revokes(caplog: pytest.LogCaptureFixture) -> int:
    return sum("Revoking previously assigned" in record.getMessage() for record in caplog.records)


async def _publish_to_new_topic(
    settings: ServiceSettings, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """The embedded broker refuses (and drops) what is sent to a topic for a moment after it is
    created again: send until it takes it."""
    for _ in range(20):
        try:
            await publish_raw(settings.kafka_bootstrap_servers, topic, records)
            return
        except UnknownError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{topic} never took the events")


async def _no_dead_letters(topic: str, key: bytes | None, value: bytes, headers: object) -> None:
    raise AssertionError(f"nothing is dead-lettered here ({topic})")
