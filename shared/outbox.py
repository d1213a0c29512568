"""Transactional outbox: events are rows written with the state change, then relayed to Kafka.

`enqueue` runs inside the caller's transaction, so an event exists exactly when its change
committed. `OutboxRelay` publishes unpublished rows in id order, keys in parallel and each
key's events one after another, and marks what the broker acknowledged; a failed publish holds
back the rest of its key until the retry. An acknowledgement lost in transit means Kafka may
see an event twice (never zero times): consumers deduplicate by `event_id`.

Published rows are kept (OUTBOX_RETENTION_HOURS) with the broker epoch they went to, so that
a broker which loses its data gets them again (shared/broker_epoch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import asyncpg
from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from faststream.kafka import KafkaBroker

from shared.broker_epoch import BrokerEpoch, republish_older
from shared.db import DATABASE_UNAVAILABLE, Connection
from shared.events import Envelope, kafka_headers

logger = logging.getLogger(__name__)

# The broker will never take these, however often they are sent.
_REFUSED_FOR_GOOD: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)


def _channel(schema: str) -> str:
    return f"outbox_{schema}"


class OutboxBatch:
    """The events enqueued on one connection while `batched` is active, written in one
    statement by `flush` (a consumer's batch: one outbox insert instead of one per event)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.events: list[tuple[Envelope, str]] = []

    def mark(self) -> int:
        """A point to `discard_since` (a handler run in a savepoint that rolled back)."""
        return len(self.events)

    def discard_since(self, mark: int) -> None:
        del self.events[mark:]

    async def flush(self) -> None:
        events, self.events = self.events, []
        await _insert(self.connection, events)


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
    batch = _batch.get()
    if batch is not None and batch.connection is connection:
        batch.events.extend(events)
        return
    await _insert(connection, events)


async def _insert(connection: Connection, events: list[tuple[Envelope, str]]) -> None:
    if not events:
        return
    await connection.execute(
        "WITH added AS ("
        "INSERT INTO outbox (event_id, topic, event_key, envelope) "
        "SELECT e.event_id, e.topic, e.event_key, e.envelope::jsonb "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) "
        "WITH ORDINALITY AS e(event_id, topic, event_key, envelope, n) ORDER BY n RETURNING 1) "
        "SELECT pg_notify('outbox_' || current_schema(), '') FROM (SELECT 1) once "
        "WHERE EXISTS (SELECT 1 FROM added)",
        [event.event_id for event, _ in events],
        [event.type for event, _ in events],
        [key for _, key in events],
        # Serialized by pydantic straight to JSON text: no dictionary on the way.
        [event.model_dump_json() for event, _ in events],
    )


class OutboxRelay:
    """Publishes one schema's outbox; replicas take turns through an advisory lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        schema: str,
        epoch: BrokerEpoch,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        max_failures: int = 10,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.schema = schema
        self.epoch = epoch
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_failures = max_failures
        self._wake = asyncio.Event()
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"outbox:{schema}".encode()).digest()[:8], "big", signed=True
        )

    async def publish_batch(self) -> int:
        """Publish up to `batch_size` events; returns how many were published."""
        epoch = self.epoch.current  # read before publishing: a broker lost meanwhile gets them
        async with self.pool.acquire() as connection, connection.transaction():
            if not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", self._lock_key
            ):
                return 0
            # The envelope goes out as Postgres renders it, its headers read alongside: no
            # decoding, validating and encoding again of what was validated when enqueued.
            rows = await connection.fetch(
                "SELECT id, topic, event_key, envelope::text AS body, "
                "envelope->>'type' AS type, envelope->>'request_id' AS request_id, "
                "envelope->>'traceparent' AS traceparent, failures FROM outbox "
                "WHERE published_at IS NULL AND set_aside_at IS NULL ORDER BY id LIMIT $1",
                self.batch_size,
            )
            if not rows:
                return 0
            by_key: dict[str, list[asyncpg.Record]] = {}
            for row in rows:
                by_key.setdefault(row["event_key"], []).append(row)
            outcomes = await asyncio.gather(*(self._publish_in_order(g) for g in by_key.values()))
            published = [event_id for done, _ in outcomes for event_id in done]
            await connection.execute(
                "UPDATE outbox SET published_at = now(), published_epoch = $2 "
                "WHERE id = ANY($1::bigint[])",
                published,
                epoch,
            )
            failed = [failure for _, failure in outcomes if failure is not None]
            held = await self._count_failures(connection, failed, broker_up=bool(published))
        if self.epoch.current != epoch:
            # The broker changed while this batch was out: what it marked under the old epoch
            # may have gone to the lost broker; the new epoch's replay could not see it yet.
            await republish_older(self.pool, self.epoch.current)
        if held is not None:
            raise held
        return len(published)

    async def _count_failures(
        self,
        connection: Connection,
        failed: list[tuple[asyncpg.Record, Exception]],
        *,
        broker_up: bool,
    ) -> Exception | None:
        """Set aside each failed event the broker refuses for good, or has refused
        `max_failures` times while taking others; count the others' failures (only while the
        broker takes others: an outage is nobody's fault). The error holding events back, if
        any is left."""
        aside = [
            (row, error)
            for row, error in failed
            if isinstance(error, _REFUSED_FOR_GOOD)
            or (broker_up and row["failures"] + 1 >= self.max_failures)
        ]
        if aside:
            await connection.execute(
                "UPDATE outbox SET set_aside_at = now(), set_aside_reason = r.reason, "
                "failures = failures + 1 FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) "
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
        still = [(row, error) for row, error in failed if row["id"] not in set_aside]
        if broker_up and still:
            await connection.execute(
                "UPDATE outbox SET failures = failures + 1 WHERE id = ANY($1::bigint[])",
                [row["id"] for row, _ in still],
            )
        return still[0][1] if still else None

    async def _publish_in_order(
        self, rows: list[asyncpg.Record]
    ) -> tuple[list[int], tuple[asyncpg.Record, Exception] | None]:
        """One key's events handed to the producer in order (one partition keeps that order),
        then their acknowledgements awaited in order: published are those before the first
        failure, which holds back the rest of that key (until it is published or set aside)."""
        sent: list[tuple[asyncpg.Record, asyncio.Future[Any]]] = []
        refused: tuple[asyncpg.Record, Exception] | None = None
        for row in rows:
            try:
                sent.append((row, await self._send(row)))
            except Exception as error:
                refused = (row, error)
                break
        done: list[int] = []
        for row, acknowledged in sent:
            try:
                await acknowledged
            except Exception as error:
                return done, (row, error)
            done.append(row["id"])
        return done, refused

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        """The event queued in the producer (batched with the others under way); the future of
        the broker's acknowledgement."""
        acknowledged: asyncio.Future[Any] = await self.broker.publish(
            row["body"].encode(),
            topic=row["topic"],
            key=row["event_key"].encode(),
            headers=kafka_headers(row["type"], row["request_id"], row["traceparent"]),
            no_confirm=True,
        )
        return acknowledged

    async def run(self) -> None:
        """Relay forever: woken by NOTIFY on commit, polling as a fallback; nothing is published
        before the broker's epoch is known (it is stamped on each row)."""
        await self.epoch.known.wait()
        listener = asyncio.create_task(self._listen())
        backoff = self.poll_interval
        try:
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
                    if await self._woken(backoff):
                        backoff = self.poll_interval  # e.g. the broker is back: go at once
                    else:
                        backoff = min(backoff * 2, 30.0)
                    continue
                if published < self.batch_size:
                    await self._woken(self.poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def wake(self) -> None:
        self._wake.set()

    async def _woken(self, within_s: float) -> bool:
        try:
            await asyncio.wait_for(self._wake.wait(), within_s)
        except TimeoutError:
            return False
        finally:
            self._wake.clear()
        return True

    async def drain(self, within_s: float) -> int:
        """On stop: publish what is left, for at most `within_s`; returns how many went out."""
        published = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                while batch := await self.publish_batch():
                    published += batch
        return published

    async def _listen(self) -> None:
        """Keep a LISTEN connection open (reconnecting after outages) to wake the relay."""
        while True:
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                async with self.pool.acquire() as connection:
                    await self._wait_for_notifications(connection)
            await asyncio.sleep(self.poll_interval)

    async def _wait_for_notifications(self, connection: Connection) -> None:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        await connection.add_listener(_channel(self.schema), self._on_notify)
        try:
            await closed.wait()
        finally:
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                await connection.remove_listener(_channel(self.schema), self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self.wake()
