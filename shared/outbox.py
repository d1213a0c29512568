"""Transactional outbox: events are rows written with the state change, then relayed to Kafka.

`enqueue` runs inside the caller's transaction, so an event exists exactly when its change
committed. `OutboxRelay` publishes the rows in the order of their transactions' IDs (`tx`),
then `id`: partitions in parallel, each partition's events in batches one after another (a key
always maps to one partition, so its events keep their order). What the broker acknowledged
is recorded as a position in that order, one row per schema (`outbox_position`), not a mark
on each row: a row is passed only once every older transaction has ended, so none can commit
behind the position later. Rows published ahead of it (past a failed batch of another
partition, or while a long transaction holds the position back) are marked one by one. A
failed batch holds back the rest of its partition until the retry. An acknowledgement lost in
transit means Kafka may see an event twice (never zero times): consumers deduplicate by
`event_id`.

Published rows are kept (OUTBOX_RETENTION_HOURS) with the broker epoch they went to, so that
a broker which loses its data gets them again (shared/broker_epoch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

from shared.db import Connection, NulInTextError
from shared.events import Envelope, kafka_headers
from shared.kafka import MAX_REQUEST_BYTES
from shared.wakeup import Wakeup

if TYPE_CHECKING:
    from shared.broker_epoch import BrokerEpoch

logger = logging.getLogger(__name__)
_K = TypeVar("_K")

# The broker will never take these, however often they are sent.
_REFUSED_FOR_GOOD: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)


# An event waiting behind a transaction that has run this long goes without waiting further.
STALLED_AFTER_S = 1.0
# How soon the relay looks again when it held events back (their transaction's elders end
# within milliseconds, as a rule).
HELD_BACK_POLL_S = 0.05
# The longest the relay waits before trying again after a failed round.
MAX_BACKOFF_S = 30.0


def waiting(schema: str | None = None) -> str:
    """SQL condition: an outbox row (of `schema`, or of the one on the search path) waits for
    the relay: neither published nor set aside."""
    return (
        "published_at IS NULL AND set_aside_at IS NULL "
        f"AND (tx, id) > (SELECT tx, id FROM {_position_of(schema)})"
    )


def published(schema: str | None = None) -> str:
    """SQL condition: an outbox row was published: behind the position and not set aside, or
    marked on its own. A position ahead of the database's transaction IDs (restored from
    another cluster: the relay starts again from scratch) counts nothing as behind it."""
    position = _position_of(schema)
    return (
        "(published_at IS NOT NULL OR set_aside_at IS NULL "
        f"AND (tx, id) <= (SELECT tx, id FROM {position}) "
        f"AND (SELECT tx FROM {position}) < pg_snapshot_xmin(pg_current_snapshot()))"
    )


def _position_of(schema: str | None) -> str:
    return f'"{schema}".outbox_position' if schema else "outbox_position"


async def _position(connection: Connection) -> asyncpg.Record:
    """The relay's position, with the oldest transaction still running (`horizon`)."""
    position = await connection.fetchrow(
        "SELECT tx, id, epoch, pg_snapshot_xmin(pg_current_snapshot()) AS horizon "
        "FROM outbox_position"
    )
    assert position is not None  # its one row is made with the table
    return position


async def _move_position(
    connection: Connection, tx: int, id_: int, epoch: uuid.UUID | None
) -> None:
    await connection.execute(
        "UPDATE outbox_position SET tx = $1, id = $2, epoch = $3, moved_at = now()",
        tx,
        id_,
        epoch,
    )


def relay_lock(schema: str) -> int:
    """The advisory lock `schema`'s relay holds for a round: replicas take turns, and a replay
    (`republish_older`) waits for the round under way."""
    return int.from_bytes(
        hashlib.sha256(f"outbox:{schema}".encode()).digest()[:8], "big", signed=True
    )


async def republish_older(pool: asyncpg.Pool, epoch: uuid.UUID | None) -> int:
    """Make every row published under another broker epoch wait again; the relay sends them
    again. Returns how many. The position goes back to the start when its rows went to
    another epoch, and behind the first row it covers whose own mark is cleared (a replica
    still on the old epoch marked it, then another moved the position past it).

    Rows published before epochs were recorded (no epoch) are left alone."""
    async with pool.acquire() as connection, connection.transaction():
        schema = await connection.fetchval("SELECT current_schema()")
        await connection.execute("SELECT pg_advisory_xact_lock($1)", relay_lock(schema))
        position = await _position(connection)
        cleared = await connection.fetch(
            "UPDATE outbox SET published_at = NULL, published_epoch = NULL "
            "WHERE published_at IS NOT NULL AND published_epoch <> $1 RETURNING tx, id",
            epoch,
        )
        old = (position["tx"], position["id"])
        behind = sorted((row["tx"], row["id"]) for row in cleared if (row["tx"], row["id"]) <= old)
        if position["epoch"] not in (None, epoch):
            back, kept = (0, 0), None
        elif behind:
            back, kept = (behind[0][0], behind[0][1] - 1), position["epoch"]
        else:
            return len(cleared)
        again: int = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE (tx, id) > ($1, $2) AND (tx, id) <= ($3, $4) "
            "AND published_at IS NULL AND set_aside_at IS NULL",
            *back,
            *old,
        )
        await _move_position(connection, *back, kept)
    return again + len(cleared) - len(behind)


async def _restart_from_scratch(connection: Connection, schema: str) -> asyncpg.Record:
    """A position ahead of the database's transaction IDs: the database was restored from
    another cluster, whose IDs mean nothing here. Every row kept is published again (from the
    start, those of the old cluster first), rather than new rows falling behind the position
    for good. Returns the new position."""
    logger.error(
        "outbox position is ahead of the database's transaction IDs (restored from another "
        "cluster?); the events kept are published again",
        extra={"schema": schema},
    )
    # The old cluster's rows carry IDs this one has not given out yet (a row committed here
    # while an older transaction still runs is behind them, and keeps its place).
    await connection.execute(
        "UPDATE outbox SET tx = '0', published_at = NULL, published_epoch = NULL "
        "WHERE tx >= pg_snapshot_xmax(pg_current_snapshot())"
    )
    await _move_position(connection, 0, 0, None)
    return await _position(connection)


def _retriable(error: Exception) -> bool:
    """A passing fault of the broker or the way to it, not of the events sent."""
    passing = (KafkaTimeoutError, OSError, TimeoutError)
    return bool(getattr(error, "retriable", False)) or isinstance(error, passing)


@functools.lru_cache(maxsize=16384)
def _partition_index(key: str, partitions: int) -> int:
    """Where aiokafka's default partitioner places `key` among `partitions` (murmur2, as the Java
    client does), remembered: a step's events all carry its campaign's key, and the hash is
    pure Python (5% of a busy service's time, computed anew for each event)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _grouped(
    rows: list[asyncpg.Record], key: Callable[[asyncpg.Record], _K]
) -> dict[_K, list[asyncpg.Record]]:
    """The rows by `key`, each group in the rows' order."""
    groups: dict[_K, list[asyncpg.Record]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def _before_oversized(
    rows: list[asyncpg.Record],
) -> tuple[list[asyncpg.Record], tuple[asyncpg.Record, Exception] | None]:
    """The rows up to the first one larger than the broker takes in a request, and that one
    refused (as the producer refuses such an event before sending it)."""
    for n, row in enumerate(rows):
        size = _size(row)
        if size > MAX_REQUEST_BYTES:
            too_large = MessageSizeTooLargeError(
                f"the event is {size} bytes, over the {MAX_REQUEST_BYTES} bytes of a request"
            )
            return rows[:n], (row, too_large)
    return rows, None


def _size(row: asyncpg.Record) -> int:
    """The event's bytes on the wire, near enough: its value, key and headers in UTF-8."""
    texts = (row["body"], row["event_key"], row["topic"], row["request_id"], row["traceparent"])
    return sum(len(text.encode()) for text in texts if text)


def _append(builder: BatchBuilder, row: asyncpg.Record) -> bool:
    """The event added to the batch as it was written, with its headers (its topic is named
    after its type); False when the batch is full."""
    headers = kafka_headers(row["topic"], row["request_id"], row["traceparent"])
    added = builder.append(
        key=row["event_key"].encode(),
        value=row["body"].encode(),
        timestamp=None,
        headers=[(name, value.encode()) for name, value in headers.items()],
    )
    return added is not None


class _Row(NamedTuple):
    """An event as its outbox row holds it (the insert's columns, in order)."""

    event_id: uuid.UUID
    topic: str
    event_key: str
    envelope: str
    request_id: str | None
    traceparent: str | None


# A U+0000 in the envelope's text: `\u0000` not itself escaped (`\\u0000` is the six
# characters `\u0000`, which any text may hold).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _rows(events: list[tuple[Envelope, str]]) -> list[_Row]:
    """The events' rows, each envelope serialized by pydantic straight to JSON text (no
    dictionary on the way). One holding U+0000 is refused, as the text columns its consumers
    write would refuse it (an enqueuing request gets a 400, a handler fails alone)."""
    rows = [
        _Row(event.event_id, event.type, key, event.model_dump_json(), event.request_id,
             event.traceparent)
        for event, key in events
    ]  # fmt: skip
    for row in rows:
        if "u0000" in row.envelope and _NUL_ESCAPE.search(row.envelope):
            raise NulInTextError(f"{row.topic} event holds the NUL character (\\u0000)")
    return rows


class OutboxBatch:
    """The events enqueued on one connection while `batched` is active, written in one
    statement by `flush` (a consumer's batch: one outbox insert instead of one per event)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.rows: list[_Row] = []

    def mark(self) -> int:
        """A point to `discard_since` (a handler run in a savepoint that rolled back)."""
        return len(self.rows)

    def discard_since(self, mark: int) -> None:
        del self.rows[mark:]

    async def flush(self) -> None:
        rows, self.rows = self.rows, []
        await _insert(self.connection, rows)


_batch: ContextVar[OutboxBatch | None] = ContextVar("outbox_batch", default=None)


@contextlib.contextmanager
def batched(connection: Connection) -> Iterator[OutboxBatch]:
    """Within this block (and this task), events enqueued on `connection` wait in the batch
    until its `flush`, which must run in the same transaction before it commits."""
    batch = OutboxBatch(connection)
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)


async def enqueue(connection: Connection, event: Envelope, key: str) -> None:
    """Record `event` for publication, keyed by its aggregate id (per-key order is kept)."""
    await enqueue_many(connection, [(event, key)])


async def enqueue_many(connection: Connection, events: list[tuple[Envelope, str]]) -> None:
    """Record several `(event, key)` pairs in one statement, in the order given; the relay is
    notified when the transaction commits."""
    rows = _rows(events)
    batch = _batch.get()
    if batch is not None and batch.connection is connection:
        batch.rows.extend(rows)
        return
    await _insert(connection, rows)


async def _insert(connection: Connection, rows: list[_Row]) -> None:
    if not rows:
        return
    await connection.execute(
        "WITH added AS ("
        "INSERT INTO outbox (event_id, topic, event_key, envelope, request_id, traceparent) "
        "SELECT e.event_id, e.topic, e.event_key, e.envelope::json, e.request_id, e.traceparent "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) "
        "WITH ORDINALITY AS e(event_id, topic, event_key, envelope, request_id, traceparent, n) "
        "ORDER BY n RETURNING 1) "
        "SELECT pg_notify('outbox_' || current_schema(), '') FROM (SELECT 1) once "
        "WHERE EXISTS (SELECT 1 FROM added)",
        *(list(column) for column in zip(*rows, strict=True)),
    )


class OutboxRelay:
    """Publishes one schema's outbox; replicas take turns through an advisory lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        epoch: BrokerEpoch,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        max_failures: int = 10,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.epoch = epoch
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self.wakeup = Wakeup(pool, f"outbox_{schema}")
        self.held_back = False  # the last round left events waiting for older transactions
        self._horizon: int | None = None  # the oldest running transaction, as last seen
        self._horizon_since = 0.0
        self._lock_key = relay_lock(schema)

    async def publish_batch(self, *, held_back_too: bool = False) -> int:
        """Publish up to `batch_size` events; returns how many were published.

        Events of a transaction that committed while an older one is still running are held
        back until it ends (they could otherwise pass rows it has yet to commit), unless that
        transaction has held them back for STALLED_AFTER_S or `held_back_too` is given (a stop
        drains everything): then they go at once, each marked published on its own row."""
        epoch = self.epoch.current  # read before publishing: a broker lost meanwhile gets them
        async with self.pool.acquire() as connection, connection.transaction():
            # Recording what went out need not wait for the disk: a record lost in a crash only
            # publishes those events again, and consumers skip what they have seen.
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock($1) "
                "AND set_config('synchronous_commit', 'off', true) IS NOT NULL",
                self._lock_key,
            ):
                return 0
            position = await _position(connection)
            if position["tx"] >= position["horizon"]:
                position = await _restart_from_scratch(connection, self.schema)
            # The envelope goes out as the text it was written as, its headers read alongside:
            # no decoding, validating and encoding again of what was validated when enqueued.
            rows = await connection.fetch(
                "SELECT id, tx, topic, event_key, envelope::text AS body, request_id, traceparent, "
                "pg_snapshot_xmin(pg_current_snapshot()) AS horizon FROM outbox "
                "WHERE (tx, id) > ($2, $3) AND published_at IS NULL AND set_aside_at IS NULL "
                "ORDER BY tx, id LIMIT $1",
                self.batch_size,
                position["tx"],
                position["id"],
            )
            sendable = rows if held_back_too else self._not_held_back(rows)
            self.held_back = len(sendable) < len(rows)
            if not sendable:
                return 0
            outcomes = await asyncio.gather(
                *(
                    self._publish_topic(topic, of_topic)
                    for topic, of_topic in _grouped(sendable, lambda row: row["topic"]).items()
                )
            )
            published = {event_id for done, _ in outcomes for event_id in done}
            failed = [failure for _, failures in outcomes for failure in failures]
            aside, held = await self._count_failures(connection, failed, broker_up=bool(published))
            await self._record(connection, sendable, published, aside, position, epoch)
        if self.epoch.current != epoch or position["epoch"] not in (None, epoch):
            # The broker changed while this batch was out: what it recorded under the old epoch
            # may have gone to the lost broker, and the new epoch's replay could not see it
            # yet. Or that replay has not reached this outbox (it failed): done here then.
            await republish_older(self.pool, self.epoch.current)
        if held is not None:
            raise held
        return len(published)

    def _not_held_back(self, rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
        """The rows of transactions older than every one still running (all of them, in the
        rows' order, come first), or every row once the oldest running transaction has held
        them back for STALLED_AFTER_S."""
        if not rows:
            return rows
        horizon = rows[0]["horizon"]
        now = time.monotonic()
        if horizon != self._horizon:
            self._horizon, self._horizon_since = horizon, now
        if now - self._horizon_since >= STALLED_AFTER_S:
            return rows
        return [row for row in rows if row["tx"] < horizon]

    async def _record(
        self,
        connection: Connection,
        rows: list[asyncpg.Record],
        published: set[int],
        aside: set[int],
        position: asyncpg.Record,
        epoch: uuid.UUID | None,
    ) -> None:
        """Move the position over the rows published (or set aside) from its start, as far as
        the oldest running transaction allows; mark the other published rows one by one.

        The position moves only within one broker epoch: rows behind it that went to an
        older epoch's broker are published again when the new epoch is taken up
        (`republish_older`), and until then each row records its own epoch."""
        same_epoch = position["epoch"] is None or position["epoch"] == epoch
        gone = published | aside
        passed = 0
        if same_epoch:
            for row in rows:
                if row["tx"] >= row["horizon"] or row["id"] not in gone:
                    break
                passed += 1
        if passed:
            last = rows[passed - 1]
            await _move_position(connection, last["tx"], last["id"], epoch)
        ahead = [row["id"] for row in rows[passed:] if row["id"] in published]
        if ahead:
            await connection.execute(
                "UPDATE outbox SET published_at = now(), published_epoch = $2 "
                "WHERE id = ANY($1::bigint[])",
                ahead,
                epoch,
            )

    async def _count_failures(
        self,
        connection: Connection,
        failed: list[tuple[asyncpg.Record, Exception]],
        *,
        broker_up: bool,
    ) -> tuple[set[int], Exception | None]:
        """Set aside each failed event the broker refuses for good, or has refused
        `max_failures` times while taking others; count the others' failures. The ids set
        aside, and the error holding events back, if any is left.

        A refusal counts only while the broker takes other events (an outage is nobody's
        fault), and no sooner after the event's last counted one than the relay's back-off
        would try it again (`poll_interval` doubling up to MAX_BACKOFF_S): every commit wakes
        the relay, and a partition the broker answers "unknown error" for a moment (see
        docs/architecture.md) must not use up an event's refusals in a burst of such rounds."""
        for_good = [(row, error) for row, error in failed if isinstance(error, _REFUSED_FOR_GOOD)]
        passing = [row["id"] for row, error in failed if not isinstance(error, _REFUSED_FOR_GOOD)]
        counted = (
            await connection.fetch(
                "UPDATE outbox SET failures = failures + 1, failed_at = now() "
                "WHERE id = ANY($1::bigint[]) AND (failed_at IS NULL OR failed_at <= now() - "
                "make_interval(secs => least($2::float8, "
                "$3::float8 * 2 ^ least(failures - 1, 16)))) "
                "RETURNING id, failures",
                passing,
                MAX_BACKOFF_S,
                self.poll_interval,
            )
            if broker_up and passing
            else []
        )
        exhausted = {row["id"] for row in counted if row["failures"] >= self.max_failures}
        aside = for_good + [(row, error) for row, error in failed if row["id"] in exhausted]
        if aside:
            await connection.execute(
                "UPDATE outbox SET set_aside_at = now(), set_aside_reason = r.reason "
                "FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) "
                "WHERE outbox.id = r.id",
                [row["id"] for row, _ in aside],
                [repr(error)[:2000] for _, error in aside],
            )
            for row, error in aside:
                logger.error(
                    "outbox event set aside: the broker refuses it",
                    extra={"schema": self.schema, "outbox_id": row["id"], "topic": row["topic"],
                           "error": repr(error)},
                )  # fmt: skip
        set_aside = {row["id"] for row, _ in aside}
        still = [error for row, error in failed if row["id"] not in set_aside]
        return set_aside, still[0] if still else None

    async def _publish_topic(
        self, topic: str, rows: list[asyncpg.Record]
    ) -> tuple[list[int], list[tuple[asyncpg.Record, Exception]]]:
        """A topic's events, each partition's in order (as the broker's default partitioner
        places keys); published ids, and the first failure of each partition that had one."""
        try:
            partitions = sorted(await self.producer.partitions_for(topic))
        except Exception as error:
            return [], [(rows[0], error)]  # the topic is unknown or the broker unreachable
        by_partition = _grouped(
            rows, lambda row: partitions[_partition_index(row["event_key"], len(partitions))]
        )
        outcomes = await asyncio.gather(
            *(
                self._publish_in_order(topic, partition, of_partition)
                for partition, of_partition in by_partition.items()
            )
        )
        published = [event_id for done, _ in outcomes for event_id in done]
        return published, [failure for _, failure in outcomes if failure is not None]

    async def _publish_in_order(
        self, topic: str, partition: int, rows: list[asyncpg.Record]
    ) -> tuple[list[int], tuple[asyncpg.Record, Exception] | None]:
        """One partition's events in batches, each acknowledged before the next goes (so a
        failure cannot let later events overtake it): published are those before the first
        failure, which holds back the rest (until it is published or set aside)."""
        sendable, oversized = _before_oversized(rows)
        done, failure = await self._send_in_order(topic, partition, self._batches(sendable))
        return done, failure if failure is not None else oversized

    async def _send_in_order(
        self, topic: str, partition: int, batches: list[tuple[BatchBuilder, list[asyncpg.Record]]]
    ) -> tuple[list[int], tuple[asyncpg.Record, Exception] | None]:
        """The batches one after another until one fails. A batch the broker refuses for
        something other than a passing fault (an outage, a timeout) is sent again one event at
        a time, so that the failure is charged to the event at fault."""
        done: list[int] = []
        for builder, members in batches:
            try:
                acknowledged = await self.producer.send_batch(builder, topic, partition=partition)
                await acknowledged
            except Exception as error:
                if len(members) == 1 or _retriable(error):
                    return done, (members[0], error)
                alone = [self._batch_of(row) for row in members]
                sent, failure = await self._send_in_order(topic, partition, alone)
                done += sent
                if failure is not None:
                    return done, failure
                continue
            done.extend(row["id"] for row in members)
        return done, None

    def _batches(
        self, rows: list[asyncpg.Record]
    ) -> list[tuple[BatchBuilder, list[asyncpg.Record]]]:
        """The rows in batches of at most the producer's batch size (an event larger than that
        goes alone)."""
        batches = [self._batch_of(rows[0])] if rows else []
        for row in rows[1:]:
            builder, members = batches[-1]
            if _append(builder, row):
                members.append(row)
            else:
                batches.append(self._batch_of(row))
        return batches

    def _batch_of(self, row: asyncpg.Record) -> tuple[BatchBuilder, list[asyncpg.Record]]:
        builder = self.producer.create_batch()
        _append(builder, row)  # an empty batch takes any event
        return builder, [row]

    async def run(self) -> None:
        """Relay forever: woken by NOTIFY on commit, polling as a fallback; nothing is published
        before the broker's epoch is known (it is recorded with what went out)."""
        await self.epoch.known.wait()
        backoff = self.poll_interval
        async with self.wakeup:
            while True:
                try:
                    published = await self.publish_batch()
                    backoff = self.poll_interval
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning(
                        "outbox relay failed; will retry",
                        extra={"schema": self.schema, "error": repr(error), "retry_in_s": backoff},
                    )
                    if await self.wakeup.wait(backoff):
                        backoff = self.poll_interval  # e.g. the broker is back: go at once
                    else:
                        backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                if published < self.batch_size:
                    soon = HELD_BACK_POLL_S if self.held_back else self.poll_interval
                    await self.wakeup.wait(soon)

    def wake(self) -> None:
        self.wakeup.set()

    async def drain(self, within_s: float) -> int:
        """On stop: publish what is left, for at most `within_s`; returns how many went out."""
        published = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                while batch := await self.publish_batch(held_back_too=True):
                    published += batch
        return published
