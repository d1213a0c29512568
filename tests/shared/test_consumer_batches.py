"""A consumer batch is one transaction: dedup rows in bulk, each new event in a savepoint, a
failing event dead-lettered without taking its batch mates down; consumer names are stable."""

from __future__ import annotations

import asyncio
import uuid

from shared.consumer import EventConsumer, Handling, Retry, Subscription, handle_batch
from shared.context import request_id_var
from shared.db import Connection, connect
from shared.events import Envelope, dead_letter_topic
from shared.kafka import ensure_topics
from shared.migrations import migrate, service_migrations
from shared.outbox import enqueue
from tests.helpers import eventually, publish_raw

QUICK = Retry(attempts=3, backoff_ms=1)


def _event(n: int) -> Envelope:
    return Envelope(type="test.happened", producer="tests", payload={"n": n})


class _Handler:
    """Records each event's effect; event n == 13 always fails, n == 7 fails once."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(self, connection: Connection, event: Envelope) -> None:
        n = int(event.payload["n"])
        self.calls.append(n)
        await connection.execute("INSERT INTO effects VALUES ($1, $2)", event.event_id, n)
        if n == 13 or (n == 7 and self.calls.count(7) == 1):
            raise RuntimeError(f"handler refused {n}")


async def test_a_batch_commits_its_good_events_and_returns_the_failed_one(effects_schema):
    pool = effects_schema
    handler = _Handler()
    subscription = Subscription("test.happened", "effects", handler)
    seen_before, good, flaky, poison = _event(1), _event(2), _event(7), _event(13)
    assert await handle_batch(pool, subscription, [seen_before], QUICK) == {}

    failed = await handle_batch(pool, subscription, [seen_before, good, flaky, poison, good], QUICK)

    assert list(failed) == [poison.event_id]
    assert "handler refused 13" in failed[poison.event_id]
    # Each effect once: the event seen before and the repeat inside the batch were skipped. The
    # batch first ran without savepoints until the flaky event failed; it was rolled back and
    # run again with a savepoint per event: the flaky one passed, the poison failed thrice.
    effects = await pool.fetch("SELECT n FROM effects ORDER BY n")
    assert [row["n"] for row in effects] == [1, 2, 7]
    assert handler.calls == [1, 2, 7, 2, 7, 13, 13, 13]
    processed = await pool.fetch("SELECT event_id FROM processed_events WHERE consumer = 'effects'")
    # The dead-lettered event is not recorded: a replay of its dead letter runs it again.
    assert {row["event_id"] for row in processed} == {
        seen_before.event_id,
        good.event_id,
        flaky.event_id,
    }


async def test_the_same_batch_delivered_again_changes_nothing(effects_schema):
    pool = effects_schema
    handler = _Handler()
    subscription = Subscription("test.happened", "effects", handler)
    batch = [_event(n) for n in range(100, 120)]
    await handle_batch(pool, subscription, batch, QUICK)
    await handle_batch(pool, subscription, batch, QUICK)
    assert await pool.fetchval("SELECT count(*) FROM effects") == 20
    assert handler.calls == list(range(100, 120))


class _Announcer(_Handler):
    """Also enqueues an event `told n` per effect (n == 13 always fails, n == 7 once)."""

    async def __call__(self, connection: Connection, event: Envelope) -> None:
        n = int(event.payload["n"])
        told = Envelope(type="test.told", producer="tests", payload={"n": n})
        await enqueue(connection, told, str(n % 2))
        await super().__call__(connection, event)


async def test_a_batch_writes_the_events_of_its_handled_events_only_in_order(effects_schema):
    """The outbox rows a batch's handlers enqueue are written together at its end: those of a
    handler run that rolled back (the flaky one's first run, the poison's every run) are not."""
    pool = effects_schema
    subscription = Subscription("test.happened", "announcer", _Announcer())
    batch = [_event(n) for n in (3, 7, 4, 13, 5)]

    failed = await handle_batch(pool, subscription, batch, QUICK)

    assert list(failed) == [batch[3].event_id]
    told = await pool.fetch("SELECT envelope, event_key FROM outbox ORDER BY id")
    assert [row["envelope"]["payload"]["n"] for row in told] == [3, 7, 4, 5]
    assert [row["event_key"] for row in told] == ["1", "1", "0", "1"]


class _ManyAtOnce:
    """A set-based handler: one insert for all its events, each effect tagged with the request
    ID current `within()` its event; a batch holding n == 13 fails as a whole."""

    def __init__(self) -> None:
        self.runs: list[list[int]] = []

    async def __call__(self, connection: Connection, handlings: list[Handling]) -> None:
        numbers = [int(handling.event.payload["n"]) for handling in handlings]
        self.runs.append(numbers)
        requests = []
        for handling in handlings:
            with handling.within():
                requests.append(request_id_var.get())
        await connection.execute(
            "INSERT INTO effects SELECT * FROM unnest($1::uuid[], $2::int[])",
            [handling.event.event_id for handling in handlings],
            numbers,
        )
        await enqueue(
            connection,
            Envelope(type="test.told", producer="tests", payload={"requests": requests}),
            "k",
        )
        if 13 in numbers:
            raise RuntimeError("handler refused 13")


async def test_a_set_based_handler_takes_the_batch_at_once_and_each_event_alone_after_a_failure(
    effects_schema,
):
    pool = effects_schema
    handler = _ManyAtOnce()
    subscription = Subscription("test.happened", "many", handler_of_many=handler)
    batch = [
        Envelope(type="test.happened", producer="tests", payload={"n": n}, request_id=f"req-{n}")
        for n in (1, 2, 3)
    ]

    assert await handle_batch(pool, subscription, [*batch, batch[0]], QUICK) == {}

    assert handler.runs == [[1, 2, 3]]  # once, the repeat skipped
    told = await pool.fetch("SELECT envelope FROM outbox ORDER BY id")
    assert [row["envelope"]["payload"]["requests"] for row in told] == [["req-1", "req-2", "req-3"]]

    poison, good = _event(13), _event(4)
    failed = await handle_batch(pool, subscription, [good, poison], QUICK)

    # The batch failed as a whole, then ran event by event: the good one alone, the poison
    # alone until its retries ran out.
    assert list(failed) == [poison.event_id]
    assert handler.runs[1:] == [[4, 13], [4], [13], [13], [13]]
    effects = await pool.fetch("SELECT n FROM effects ORDER BY n")
    assert [row["n"] for row in effects] == [1, 2, 3, 4]


async def test_renamed_consumers_keep_their_history(settings):
    """The explicit names replace the handlers' module paths in the records already written,
    so an event handled before the upgrade is still a duplicate after it."""
    schema = f"names_{uuid.uuid4().hex[:10]}"
    connection = await connect(settings.database_url, schema)
    migrations = service_migrations("services.agents")
    renaming = next(i for i, m in enumerate(migrations) if m.version.endswith("consumer_names"))
    try:
        await migrate(connection, schema, migrations[:renaming])
        event_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO processed_events (consumer, event_id, event_type) "
            "VALUES ('services.agents.handlers.create_task', $1, 'campaign.step_due')",
            event_id,
        )
        await migrate(connection, schema, migrations)
        assert (
            await connection.fetchval(
                "SELECT consumer FROM processed_events WHERE event_id = $1", event_id
            )
            == "create-task"
        )
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


async def test_a_batch_whose_dead_letter_cannot_be_published_is_read_again(
    settings, effects_schema
):
    """The real consumer over a topic of its own: the poison event's dead letter fails to
    publish once; the batch is neither committed nor skipped but read again, its good events
    are skipped as handled, and the dead letter goes out the second time."""
    pool = effects_schema
    run = uuid.uuid4().hex[:8]
    topic = f"tests.lane_{run}"
    await ensure_topics(settings, [topic, dead_letter_topic(topic)])
    handler = _Handler()
    tries: list[str] = []
    published: list[tuple[str, bytes]] = []

    async def publish_once_failing(
        to: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        tries.append(to)
        if len(tries) == 1:
            raise RuntimeError("broker hiccup")
        published.append((to, value))

    consumer = EventConsumer(
        pool,
        settings.model_copy(update={"kafka_consumer_max_retries": 0}),
        f"lane-test-{run}",
        [Subscription(topic, "effects", handler)],
        publish_once_failing,
    )
    running = asyncio.create_task(consumer.run())
    try:
        events = [_event(1), _event(13), _event(2)]
        await publish_raw(
            settings.kafka_bootstrap_servers,
            topic,
            [(b"k", event.model_dump_json().encode()) for event in events],
            partition=0,
        )

        async def dead() -> list[tuple[str, bytes]]:
            return published

        await eventually(dead, lambda found: len(found) == 1, timeout=60)
    finally:
        await consumer.stop()
        await running
    assert published[0][0] == dead_letter_topic(topic)
    assert Envelope.model_validate_json(published[0][1]).event_id == events[1].event_id
    effects = await pool.fetch("SELECT n FROM effects ORDER BY n")
    assert [row["n"] for row in effects] == [1, 2]
    assert handler.calls.count(13) >= 2  # tried again with the batch read again
