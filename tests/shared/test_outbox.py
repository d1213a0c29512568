"""The outbox relays every committed event (also across a broker outage) and none rolled back."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError, RecordListTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from shared.broker_epoch import BrokerEpoch
from shared.db import NulInTextError
from shared.events import HEADER_EVENT_TYPE, HEADER_REQUEST_ID, Envelope, new_event
from shared.kafka import create_broker, create_relay_producer, ensure_topics, raw_publisher
from shared.outbox import OutboxRelay, _partition_index, batched, enqueue, waiting
from shared.tracing import HEADER_TRACEPARENT
from tests.helpers import eventually
from tests.shared.topic_reader import numbers, read_event_ids, read_records


async def test_events_written_while_broker_paused_are_all_delivered(
    platform, settings, outbox_schema, relay
):
    if platform.kafka is None:
        pytest.skip("broker is external (KAFKA_BOOTSTRAP_SERVERS given); cannot pause it")
    _, pool = outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    written: list[str] = []
    platform.kafka.process.signal(signal.SIGSTOP)
    try:
        for index in range(40):
            async with pool.acquire() as connection, connection.transaction():
                event = new_event(topic, "tests", {"n": index})
                await enqueue(connection, event, key=f"k{index % 5}")
                written.append(str(event.event_id))
        await asyncio.sleep(2)
        unpublished = await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}")
        assert unpublished == 40
    finally:
        platform.kafka.process.signal(signal.SIGCONT)
    seen = await read_event_ids(settings, topic, expected=40)
    assert set(seen) == set(written)
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda unpublished: unpublished == 0,
    )


async def test_rolled_back_change_publishes_nothing(settings, outbox_schema, relay):
    _, pool = outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    kept = new_event(topic, "tests", {"kept": True})
    dropped = new_event(topic, "tests", {"kept": False})
    with contextlib.suppress(RuntimeError):
        async with pool.acquire() as connection, connection.transaction():
            await enqueue(connection, dropped, key="same")
            raise RuntimeError("the state change failed")
    async with pool.acquire() as connection, connection.transaction():
        await enqueue(connection, kept, key="same")
    seen = await read_event_ids(settings, topic, expected=1)
    assert set(seen) == {str(kept.event_id)}
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_an_event_goes_out_as_written_with_its_type_request_and_trace(
    settings, outbox_schema, relay
):
    _, pool = outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    traced = Envelope(
        type=topic,
        producer="tests",
        request_id="req-outbox-1",
        traceparent=traceparent,
        payload={"text": 'naïve "quoted"', "n": 1},
    )
    untraced = Envelope(type=topic, producer="tests", payload={"n": 2})
    async with pool.acquire() as connection, connection.transaction():
        await enqueue(connection, traced, key="k")
        await enqueue(connection, untraced, key="k")
    records = await read_records(settings, topic, expected=2)
    assert [record.value for record in records] == [
        traced.model_dump_json().encode(),
        untraced.model_dump_json().encode(),
    ]
    assert [dict(record.headers) for record in records] == [
        {
            HEADER_EVENT_TYPE: topic.encode(),
            HEADER_REQUEST_ID: b"req-outbox-1",
            HEADER_TRACEPARENT: traceparent.encode(),
        },
        {HEADER_EVENT_TYPE: topic.encode()},
    ]
    kept = await pool.fetch("SELECT request_id, traceparent, envelope FROM outbox ORDER BY id")
    assert [dict(row) for row in kept] == [
        {
            "request_id": "req-outbox-1",
            "traceparent": traceparent,
            "envelope": traced.model_dump(mode="json"),
        },
        {"request_id": None, "traceparent": None, "envelope": untraced.model_dump(mode="json")},
    ]


async def test_an_event_holding_nul_is_refused_when_enqueued_alone_or_in_a_batch(outbox_schema):
    """Postgres keeps the envelope as json text, which takes U+0000: the outbox refuses it
    itself, as soon as the event is enqueued, so the handler that made it fails alone. The six
    characters `\\u0000` are text like any other."""
    _, pool = outbox_schema
    holding_nul = new_event("test.nul", "tests", {"text": "paid\x00 today"})
    literal = new_event("test.nul", "tests", {"text": "C:\\u0000 is a path"})
    async with pool.acquire() as connection, connection.transaction():
        with pytest.raises(NulInTextError):
            await enqueue(connection, holding_nul, key="k")
        with batched(connection) as batch:
            with pytest.raises(NulInTextError):
                await enqueue(connection, holding_nul, key="k")
            await enqueue(connection, literal, key="k")
            await batch.flush()
    kept = await pool.fetch("SELECT envelope FROM outbox")
    assert [row["envelope"]["payload"]["text"] for row in kept] == ["C:\\u0000 is a path"]


async def test_an_event_the_broker_refuses_is_set_aside_and_holds_nothing_up(
    settings, outbox_schema, relay
):
    """Too large for the broker (over the producer's 1 MiB request limit): set aside with its
    reason, shown by the diagnostics' query; the events behind it, same key, go out."""
    _, pool = outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    huge = new_event(topic, "tests", {"text": "x" * 2_000_000})
    after = [new_event(topic, "tests", {"n": n}) for n in range(3)]
    async with pool.acquire() as connection, connection.transaction():
        for event in (huge, *after):
            await enqueue(connection, event, key="same")

    seen = await read_event_ids(settings, topic, expected=3)

    assert set(seen) == {str(event.event_id) for event in after}
    aside = await pool.fetchrow(
        "SELECT set_aside_reason, published_at FROM outbox WHERE event_id = $1", huge.event_id
    )
    assert aside["published_at"] is None and "MessageSizeTooLarge" in aside["set_aside_reason"]


async def test_the_request_limit_counts_bytes_not_characters(settings, outbox_schema, relay):
    """600,000 characters of two bytes each: over the 1 MiB a request carries, so refused
    before it is sent and set aside; the event behind it goes."""
    _, pool = outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    wide = new_event(topic, "tests", {"text": "é" * 600_000})
    after = new_event(topic, "tests", {"n": 1})
    async with pool.acquire() as connection, connection.transaction():
        for event in (wide, after):
            await enqueue(connection, event, key="same")

    assert await read_event_ids(settings, topic, expected=1) == [str(after.event_id)]
    aside = await pool.fetchval(
        "SELECT set_aside_reason FROM outbox WHERE event_id = $1", wide.event_id
    )
    assert "MessageSizeTooLarge" in aside and "bytes" in aside


async def test_an_event_refused_again_and_again_while_others_go_is_set_aside(
    settings, outbox_schema
):
    """A refusal that may be passing (a timeout) counts only while the broker takes other
    events (an outage is nobody's fault), and no sooner after the last counted one than the
    relay's back-off (rounds woken by commits meanwhile count nothing); at
    OUTBOX_MAX_FAILURES the event is set aside, and until then it holds its key back."""
    schema, pool = outbox_schema
    broker = create_broker(settings, client_id=f"test-{schema}")  # never started: not relaying
    producer = create_relay_producer(settings, client_id=f"test-{schema}")
    relay = OutboxRelay(
        pool,
        producer,
        schema,
        BrokerEpoch(settings, raw_publisher(broker)),
        max_failures=3,
        poll_interval=0.2,
    )
    async with pool.acquire() as connection, connection.transaction():
        await enqueue(connection, new_event("test.refused", "tests", {}), key="bad")
    row = await pool.fetchrow("SELECT id, topic FROM outbox WHERE event_key = 'bad'")
    refused: Exception = KafkaTimeoutError()

    async def count(*, broker_up: bool = True) -> tuple[set[int], Exception | None]:
        async with pool.acquire() as connection:
            return await relay._count_failures(connection, [(row, refused)], broker_up=broker_up)

    async def failures() -> int:
        counted: int = await pool.fetchval("SELECT failures FROM outbox")
        return counted

    assert await count(broker_up=False) == (set(), refused)
    assert await failures() == 0
    assert await count() == (set(), refused)
    assert await failures() == 1
    for _ in range(5):  # a burst of rounds, as commits wake the relay
        assert await count() == (set(), refused)
    assert await failures() == 1
    await asyncio.sleep(0.25)  # the first back-off step: the poll interval
    assert await count() == (set(), refused)
    assert await failures() == 2
    await asyncio.sleep(0.25)  # the next step is twice as long
    assert await count() == (set(), refused)
    assert await failures() == 2
    await asyncio.sleep(0.2)
    assert await count() == ({row["id"]}, None)
    aside = await pool.fetchrow("SELECT failures, set_aside_at, set_aside_reason FROM outbox")
    assert aside["failures"] == 3 and aside["set_aside_at"] is not None
    assert "KafkaTimeoutError" in aside["set_aside_reason"]


async def _enqueued(
    settings, pool, count: int, keys: int = 1, padding: str = ""
) -> tuple[str, list[Envelope]]:
    """A new topic, and `count` events on it enqueued in one transaction, keyed `k0`, `k1`, ...
    in turn (`keys` of them), each numbered `n`."""
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    written = [new_event(topic, "tests", {"n": n, "padding": padding}) for n in range(count)]
    async with pool.acquire() as connection, connection.transaction():
        for n, event in enumerate(written):
            await enqueue(connection, event, key=f"k{n % keys}")
    return topic, written


async def test_a_keys_events_arrive_in_the_order_they_were_written(settings, outbox_schema, relay):
    """The relay hands a batch to the producer without waiting for each acknowledgement: one
    key's events still reach its partition in the order they were committed."""
    _, pool = outbox_schema
    topic, written = await _enqueued(settings, pool, 120)

    seen = await read_event_ids(settings, topic, expected=len(written))

    assert seen == [str(event.event_id) for event in written]


async def test_a_keys_events_keep_their_order_across_batches(settings, outbox_schema, relay):
    """Enough events for several of the relay's batches per partition: each key's arrive in
    the order written, on one partition, each once, with the event's headers."""
    _, pool = outbox_schema
    # 3 keys x 200 events x 4 KB: over the 256 KB of a batch per key.
    topic, _ = await _enqueued(settings, pool, 600, keys=3, padding="x" * 4000)

    records = await read_records(settings, topic, expected=600)

    assert len(records) == 600
    by_key: dict[bytes | None, list[int]] = {}
    partitions: dict[bytes | None, set[int]] = {}
    for record in records:
        by_key.setdefault(record.key, []).extend(numbers([record]))
        partitions.setdefault(record.key, set()).add(record.partition)
        assert dict(record.headers)[HEADER_EVENT_TYPE] == topic.encode()
    for k in range(3):
        key = f"k{k}".encode()
        assert by_key[key] == list(range(k, 600, 3))
        assert len(partitions[key]) == 1


class _SmallRequestsBroker(AIOKafkaProducer):  # type: ignore[misc]
    """A broker whose `max.message.bytes` is below a batch of two events: Tansu enforces no
    such limit, so the refusal is made here, as the broker would answer it."""

    async def send_batch(self, batch, topic, *, partition):
        if batch.record_count() > 1:
            raise RecordListTooLargeError("the batch is over the broker's max.message.bytes")
        return await super().send_batch(batch, topic, partition=partition)


async def test_a_batch_refused_for_its_size_goes_one_event_at_a_time(settings, outbox_schema):
    schema, pool = outbox_schema
    topic, _ = await _enqueued(settings, pool, 5)
    broker = create_broker(settings, client_id=f"test-{schema}")
    producer = _SmallRequestsBroker(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        epoch = BrokerEpoch(settings, raw_publisher(broker))
        await epoch.check(pool)
        relay = OutboxRelay(pool, producer, schema, epoch)
        assert await relay.publish_batch() == 5
    finally:
        await producer.stop()

    assert numbers(await read_records(settings, topic, expected=5)) == list(range(5))
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL") == 0


@pytest.mark.parametrize("partitions", [1, 3, 12])
def test_the_relay_places_keys_where_any_other_producer_would(partitions):
    """Consumers of a key's events rely on one partition per key, whoever produced them."""
    keys = [str(uuid.uuid4()) for _ in range(200)] + ["", "k0", "ünïcode"]
    all_partitions = list(range(partitions))
    for key in keys + keys:  # the second time from memory
        expected = DefaultPartitioner()(key.encode(), all_partitions, all_partitions)
        assert _partition_index(key, partitions) == expected


@pytest.mark.parametrize("relay_was", ["idle", "sending"])
async def test_events_sent_after_the_broker_lost_its_topics_can_all_be_read(
    broker_settings, own_broker, outbox_schema, relay_was
):
    """The embedded broker is killed while the relay is idle, or while a batch is on its way
    (aiokafka sends it again on its own), and a fresh broker without topics starts on the
    same port. That broker takes a produce request for a topic it does not have, and resets
    the partition's offsets when the topic is created later (here by another service's
    `ensure_topics`): events sent after that would land inside the earlier batch's offsets,
    acknowledged and never read. The relay's producer asks for metadata on its new
    connection before it produces (which creates the topic first): every acknowledged event
    can be read."""
    settings, (schema, pool) = broker_settings, outbox_schema
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic], partitions=1)
    broker = create_broker(settings, client_id=f"test-{schema}")
    await broker.start()
    producer = create_relay_producer(settings, client_id=f"test-{schema}")
    await producer.start()
    epoch = BrokerEpoch(settings, raw_publisher(broker))
    relay = OutboxRelay(pool, producer, schema, epoch)
    written: list[str] = []

    async def enqueued(count: int) -> None:
        """`count` events in one transaction (the relay sends them as one batch)."""
        events = [new_event(topic, "tests", {"n": len(written) + n}) for n in range(count)]
        async with pool.acquire() as connection, connection.transaction():
            for event in events:
                await enqueue(connection, event, key="k")
        written.extend(str(event.event_id) for event in events)

    async def relayed() -> None:
        """Everything waiting is published, past passing refusals."""
        async with asyncio.timeout(30):
            while await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"):
                with contextlib.suppress(KafkaError):
                    await relay.publish_batch()

    try:
        await epoch.check(pool)
        await enqueued(1)
        await relayed()
        del written[:]  # gone with the broker (a new epoch sends it again)
        await enqueued(10)
        sending = None
        if relay_was == "sending":
            own_broker.process.signal(signal.SIGSTOP)
            sending = asyncio.create_task(relay.publish_batch())
            await asyncio.sleep(0.5)  # the batch's request is out, unanswered
        own_broker.process.signal(signal.SIGKILL)
        await asyncio.to_thread(own_broker.stop)
        await asyncio.to_thread(own_broker.start)
        if sending is not None:
            with contextlib.suppress(KafkaError):
                await sending
        await relayed()
        await ensure_topics(settings, [topic], partitions=1)
        for _ in range(5):
            await enqueued(1)
            await relayed()
    finally:
        await epoch.close()
        await producer.stop()
        await broker.stop()

    seen = await read_event_ids(settings, topic, expected=len(written), timeout=10)
    assert set(seen) == set(written)
