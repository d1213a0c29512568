"""The relay records what it published as a position in the outbox, and never lets a row that
commits late fall behind it: an older transaction still running holds newer events back (for
at most STALLED_AFTER_S), and a new broker epoch sends everything behind the position again."""

from __future__ import annotations

import asyncio
import time
import uuid

from shared.broker_epoch import BrokerEpoch
from shared.events import new_event
from shared.kafka import create_broker, create_relay_producer, ensure_topics, raw_publisher
from shared.outbox import (
    STALLED_AFTER_S,
    OutboxRelay,
    enqueue,
    published,
    relay_lock,
    republish_older,
    waiting,
)
from tests.helpers import eventually
from tests.shared.topic_reader import numbers, read_records


async def _topic(settings) -> str:
    topic = f"test.outbox_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    return topic


async def _enqueue(pool, topic: str, n: int) -> None:
    async with pool.acquire() as connection, connection.transaction():
        await enqueue(connection, new_event(topic, "tests", {"n": n}), key="same")


async def test_what_is_published_moves_the_position_and_marks_no_row(
    settings, outbox_schema, relay
):
    _, pool = outbox_schema
    topic = await _topic(settings)
    for n in range(120):  # several of the relay's batches of 50
        await _enqueue(pool, topic, n)

    assert numbers(await read_records(settings, topic, expected=120)) == list(range(120))
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda left: left == 0,
    )
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 0
    last = await pool.fetchrow("SELECT tx, id FROM outbox ORDER BY tx DESC, id DESC LIMIT 1")
    position = await pool.fetchrow("SELECT tx, id, epoch FROM outbox_position")
    assert (position["tx"], position["id"]) == (last["tx"], last["id"])
    assert position["epoch"] == relay.epoch.current


async def test_an_event_waits_for_an_older_transaction_that_commits_after_it(
    settings, outbox_schema, relay
):
    """Were the newer event published and passed, the older one (committing later, behind the
    position) would never be: it is held back until the older transaction ends."""
    _, pool = outbox_schema
    topic = await _topic(settings)
    async with pool.acquire() as older:
        transaction = older.transaction()
        await transaction.start()
        await enqueue(older, new_event(topic, "tests", {"n": 0}), key="same")  # takes its ID
        await _enqueue(pool, topic, 1)  # a younger transaction, committed first
        await asyncio.sleep(STALLED_AFTER_S / 2)
        assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 1
        await transaction.commit()

    assert numbers(await read_records(settings, topic, expected=2)) == [0, 1]
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda left: left == 0,
    )
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 0


async def test_a_long_transaction_holds_events_back_no_longer_than_the_stall_bound(
    settings, outbox_schema, relay
):
    """Past the bound, the younger event goes with a mark of its own; the older one follows
    when its transaction commits, and the position passes both."""
    _, pool = outbox_schema
    topic = await _topic(settings)
    async with pool.acquire() as older:
        transaction = older.transaction()
        await transaction.start()
        await enqueue(older, new_event(topic, "tests", {"n": 0}), key="same")
        started = time.monotonic()
        await _enqueue(pool, topic, 1)
        assert numbers(await read_records(settings, topic, expected=1)) == [1]
        assert time.monotonic() - started >= STALLED_AFTER_S
        assert (
            await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 1
        )
        await transaction.commit()

    assert numbers(await read_records(settings, topic, expected=2)) == [1, 0]
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda left: left == 0,
    )


async def test_a_stop_drains_events_held_back_by_a_running_transaction(settings, outbox_schema):
    schema, pool = outbox_schema
    topic = await _topic(settings)
    broker = create_broker(settings, client_id=f"test-{schema}")
    producer = create_relay_producer(settings, client_id=f"test-{schema}")
    await producer.start()
    try:
        epoch = BrokerEpoch(settings, raw_publisher(broker))
        await epoch.check(pool)
        relay = OutboxRelay(pool, producer, schema, epoch)
        async with pool.acquire() as older:
            transaction = older.transaction()
            await transaction.start()
            await enqueue(older, new_event(topic, "tests", {"n": 0}), key="same")
            await _enqueue(pool, topic, 1)
            assert await relay.publish_batch() == 0  # held back
            assert relay.held_back
            assert await relay.drain(within_s=10) == 1
            await transaction.rollback()
        await epoch.close()
    finally:
        await producer.stop()
    assert numbers(await read_records(settings, topic, expected=1)) == [1]
    assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 0


async def test_a_new_epoch_sends_again_what_lies_behind_the_position(settings, outbox_schema):
    """Behind the position (old epoch): sent again. Marked on its own under the new epoch:
    kept. Set aside: left for a person."""
    _, pool = outbox_schema
    old, new = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        for n in range(5):
            await enqueue(connection, new_event("test.x", "tests", {"n": n}), key="same")
    await pool.execute(
        "UPDATE outbox_position SET (tx, id, epoch) = "
        "(SELECT tx, id, $1::uuid FROM outbox ORDER BY tx DESC, id DESC LIMIT 1)",
        old,
    )
    await pool.execute(
        "UPDATE outbox SET set_aside_at = now() WHERE id = (SELECT min(id) FROM outbox)"
    )
    async with pool.acquire() as connection, connection.transaction():
        await enqueue(connection, new_event("test.x", "tests", {"n": 5}), key="same")
    await pool.execute(
        "UPDATE outbox SET published_at = now(), published_epoch = $1 "
        "WHERE id = (SELECT max(id) FROM outbox)",
        new,
    )
    assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 0

    assert await republish_older(pool, new) == 4
    assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 4
    position = await pool.fetchrow("SELECT tx, id, epoch FROM outbox_position")
    assert (position["tx"], position["id"], position["epoch"]) == (0, 0, None)
    assert await republish_older(pool, new) == 0


async def test_the_position_does_not_carry_an_older_epoch_forward(settings, outbox_schema, relay):
    """Until the new epoch's replay has run, what goes out is marked row by row: moving the
    position would stamp the rows behind it, sent to the lost broker, with the new epoch."""
    _, pool = outbox_schema
    await pool.execute("UPDATE outbox_position SET epoch = $1", uuid.uuid4())
    topic = await _topic(settings)
    await _enqueue(pool, topic, 0)

    await read_records(settings, topic, expected=1)
    await eventually(
        lambda: pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_epoch = $1", relay.epoch.current
        ),
        lambda marked: marked == 1,
    )
    assert await pool.fetchval("SELECT id FROM outbox_position") == 0


async def test_a_mark_cleared_behind_the_position_takes_the_position_back(settings, outbox_schema):
    """A replica on the old epoch marked a row past a failed one; another, on the new epoch,
    moved the position past it. Clearing the mark alone would leave the row counted as
    published: the position goes back to just before it (the rows after it go again too)."""
    _, pool = outbox_schema
    old, new = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as connection, connection.transaction():
        for n in range(4):
            await enqueue(connection, new_event("test.x", "tests", {"n": n}), key="same")
    rows = await pool.fetch("SELECT tx, id FROM outbox ORDER BY tx, id")
    await pool.execute(
        "UPDATE outbox SET published_at = now(), published_epoch = $2 WHERE id = $1",
        rows[1]["id"],
        old,
    )
    await pool.execute(
        "UPDATE outbox_position SET tx = $1, id = $2, epoch = $3", rows[3]["tx"], rows[3]["id"], new
    )
    assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 0

    assert await republish_older(pool, new) == 3
    assert await pool.fetchval(
        f"SELECT array_agg(id ORDER BY id) FROM outbox WHERE {waiting()}"
    ) == [row["id"] for row in rows[1:]]
    assert await pool.fetchval("SELECT epoch FROM outbox_position") == new


async def test_a_replay_waits_for_the_relays_round_under_way(settings, outbox_schema):
    """A round reads the position and moves it: a replay in between would be overwritten."""
    schema, pool = outbox_schema
    async with pool.acquire() as relay_round:
        transaction = relay_round.transaction()
        await transaction.start()
        await relay_round.execute("SELECT pg_advisory_xact_lock($1)", relay_lock(schema))
        replay = asyncio.create_task(republish_older(pool, uuid.uuid4()))
        await asyncio.sleep(0.3)
        assert not replay.done()
        await transaction.commit()
    assert await asyncio.wait_for(replay, 5) == 0


async def test_a_position_ahead_of_the_databases_transaction_ids_starts_again(
    settings, outbox_schema, relay, caplog
):
    """A database restored from another cluster: its position means nothing here. Rather than
    new rows falling behind it for good (and being pruned), every row kept goes again, in the
    order written: a row committed while an older transaction still runs is this cluster's
    own, not one from the other (whose IDs are ahead of any this cluster has given out)."""
    _, pool = outbox_schema
    topic = await _topic(settings)
    await _enqueue(pool, topic, 0)
    await read_records(settings, topic, expected=1)
    async with pool.acquire() as older, older.transaction():
        await older.execute("SELECT pg_current_xact_id()")  # a transaction ID, still running
        await pool.execute("UPDATE outbox_position SET tx = '9223372036854775000'")
        assert await pool.fetchval(f"SELECT count(*) FROM outbox WHERE {published()}") == 0
        await _enqueue(pool, topic, 1)

        records = await read_records(settings, topic, expected=2)
    assert numbers(records)[-1] == 1
    assert numbers(records) == [0, 0, 1]
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda left: left == 0,
    )
    assert "outbox position is ahead of the database's transaction IDs" in caplog.text


async def test_a_set_aside_event_let_go_behind_the_position_is_published(
    settings, outbox_schema, relay
):
    """The operator's SQL clears `set_aside_at`; the row takes the releasing transaction's ID,
    so that a position which passed it meanwhile does not count it as published."""
    _, pool = outbox_schema
    topic = await _topic(settings)
    async with pool.acquire() as connection, connection.transaction():
        # Set aside as it is written: the relay, woken by the commit, never sees it waiting.
        await enqueue(connection, new_event(topic, "tests", {"n": 0}), key="same")
        await connection.execute(
            "UPDATE outbox SET set_aside_at = now(), set_aside_reason = 'test'"
        )
    await _enqueue(pool, topic, 1)
    assert numbers(await read_records(settings, topic, expected=1)) == [1]
    await eventually(
        lambda: pool.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}"),
        lambda left: left == 0,
    )

    await pool.execute(
        "UPDATE outbox SET set_aside_at = NULL, set_aside_reason = NULL, failures = 0 "
        "WHERE set_aside_at IS NOT NULL"
    )
    assert sorted(numbers(await read_records(settings, topic, expected=2))) == [0, 1]
