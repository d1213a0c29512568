"""Batched, idempotent event consumption: one consumer group per service, partitions in parallel.

A service's consumer fetches what the broker has (bounded) and hands each partition's records
to a lane of their own. A lane handles its batch in one Postgres transaction: the batch's
`(consumer, event_id)` rows go into `processed_events` in one statement (events seen before are
skipped), each new event's handler runs in a savepoint, and the offset is committed only after
that transaction committed. A partition takes no new records while its lane works, so each key
keeps its order, and a slow topic holds up only its own partitions.

A handler that keeps failing is retried with backoff inside its savepoint, then its event goes
to `<topic>.dlq` with the error; its batch mates commit as usual. A failure while the database
is unreachable is not the events' fault: the lane keeps its batch and tries again, with a
growing pause, until the database is back; nothing is committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace
from pydantic import ValidationError

from shared import outbox
from shared.db import DATABASE_ERRORS, Connection, PoolExhaustedError
from shared.events import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_ERROR,
    HEADER_DLQ_ORIGINAL_TOPIC,
    Envelope,
    dead_letter_topic,
)
from shared.kafka import PublishRaw, client_options
from shared.settings import ServiceSettings
from shared.tracing import WorkingIn, continued, continued_span

logger = logging.getLogger(__name__)

Handler = Callable[[Connection, Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Handling:
    """One new event of a batch and the consumer span it is handled in."""

    event: Envelope
    span: trace.Span

    def within(self) -> WorkingIn:
        """Work done inside (rows that record the request and trace, events it causes) belongs
        to this event's request and trace."""
        return WorkingIn(self.span, self.event.request_id)


# A set-based handler: all of a batch's new events of its topic at once.
HandlerOfMany = Callable[[Connection, list[Handling]], Awaitable[None]]


FETCH_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Subscription:
    """`handler` runs for every event on `topic`, at most once per event id.

    `name` is the consumer's de-duplication key in `processed_events`: a stable name of its
    own, so renaming or moving the handler never makes history look new.
    """

    topic: str
    name: str
    handler: Handler | None = None
    # Set-based instead: runs once for the batch's new events (a few statements for all of
    # them); when the batch must be run again event by event, once for each alone.
    handler_of_many: HandlerOfMany | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.handler_of_many is None):
            raise ValueError(f"{self.name}: give a handler or a handler of many, not both")

    async def handle(self, connection: Connection, event: Envelope) -> None:
        """The handler for one event, in the current span."""
        if self.handler is not None:
            await self.handler(connection, event)
        elif self.handler_of_many is not None:
            await self.handler_of_many(connection, [Handling(event, trace.get_current_span())])


@dataclass(frozen=True)
class _Received:
    record: ConsumerRecord[bytes, bytes]
    headers: dict[str, str]
    event: Envelope | None
    invalid: str | None = None


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {key: value.decode("utf-8", errors="replace") for key, value in record.headers or ()}


def _received(record: ConsumerRecord[bytes, bytes]) -> _Received:
    headers = _headers(record)
    try:
        return _Received(record, headers, Envelope.model_validate_json(record.value or b""))
    except ValidationError as error:
        return _Received(record, headers, None, f"invalid envelope: {error}")


@dataclass(frozen=True)
class Retry:
    """How often a failing handler runs before its event is dead-lettered, and the pauses."""

    attempts: int
    backoff_ms: int

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_ms * 2 ** (attempt - 1), 30_000) / 1000)


class _ConnectionLostError(Exception):
    """The batch's connection broke, or it lost a deadlock: the whole batch is tried again."""


# The connection itself is gone (not a statement that timed out or a handler's own error).
_CONNECTION_GONE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
# Concurrent batches (lanes, replicas) may lock rows in other orders: losing is not the
# events' fault, the batch runs again.
_CONFLICTS: tuple[type[Exception], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


def _batch_again(connection: Connection, failure: Exception) -> bool:
    return connection.is_closed() or isinstance(failure, (*_CONNECTION_GONE, *_CONFLICTS))


# Failures of a whole batch that are the database's, not the events': try the batch again.
_BATCH_AGAIN: tuple[type[Exception], ...] = (
    *DATABASE_ERRORS,
    PoolExhaustedError,
    _ConnectionLostError,
)


class _Lanes(ConsumerRebalanceListener):  # type: ignore[misc]
    """One consumer's partitions, handed out to lanes.

    From the moment partitions are revoked until they are assigned again, no lane commits or
    moves a position, and a commit in flight is not tried again (`era`; a request already
    sent still lands, under the generation it was made for): the group may be gone
    (the broker lost its data, and the rejoin that follows lands in a new broker whose logs
    are shorter), where an offset counted in the old log would skip part of the new one, or
    point past its end, where a consumer waits for good. aiokafka would otherwise retry such
    a commit under the next generation, and it sends one made after its member was forgotten
    as a standalone commit, which the broker takes. A revoked partition's lane still finishes
    before the hand-over (within a bound), so the next owner never handles it alongside; what
    it did is redelivered once and skipped as handled.

    A consumer begun because the broker lost its data reads each partition from its start the
    first time it is given it, and commits that start, whatever offset the group held: one
    committed before the loss was noticed (by a replica, or a lane in the moment between its
    member being forgotten and the revoke) counts the old log. Consumers skip what they have
    handled, and the new broker's logs are as young as it is."""

    def __init__(self, consumer: AIOKafkaConsumer, bound_s: float, *, from_start: bool) -> None:
        self.consumer = consumer
        self.bound_s = bound_s
        self.running: dict[TopicPartition, asyncio.Task[None]] = {}
        self.committing: set[asyncio.Future[None]] = set()
        self.era = 0
        self.rebalancing = False
        self._from_start = from_start
        self._read_from_start: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.fence()
        self.rebalancing = True
        await self.finish([self.running[tp] for tp in revoked if tp in self.running])

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.fence()  # lanes begun during the rebalance hold records of the old assignment
        if self._from_start:
            self._read_from_start_once(set(assigned))
        self.rebalancing = False

    def _read_from_start_once(self, assigned: set[TopicPartition]) -> None:
        fresh = sorted(assigned - self._read_from_start)
        if not fresh:
            return
        for tp in fresh:
            self.consumer.seek(tp, 0)  # on Kafka, an offset no longer kept resets to the earliest
        self._read_from_start.update(fresh)
        logger.info(
            "partitions read from their start (a new broker epoch)",
            extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in fresh]},
        )
        # Committed beside the rebalance, not inside it: a commit that keeps retrying must not
        # hold up the join.
        self.commit({tp: 0 for tp in fresh}).add_done_callback(self._start_committed)

    def commit(self, offsets: dict[TopicPartition, int]) -> asyncio.Future[None]:
        """Commit `offsets` beside the caller; a fence calls the commit off."""
        commit: asyncio.Future[None] = asyncio.ensure_future(self.consumer.commit(offsets))
        self.committing.add(commit)
        commit.add_done_callback(self.committing.discard)
        return commit

    def _start_committed(self, commit: asyncio.Future[None]) -> None:
        if not commit.cancelled() and commit.exception() is not None:
            # The first batch's commit will do it.
            logger.warning(
                "start of partitions not committed", extra={"error": repr(commit.exception())}
            )

    def fence(self) -> None:
        """No lane begun so far commits or moves a position any more."""
        self.era += 1
        for commit in self.committing:
            commit.cancel()

    async def finish(self, lanes: Iterable[asyncio.Task[None]] | None = None) -> None:
        waiting = list(self.running.values() if lanes is None else lanes)
        if waiting:
            await asyncio.wait(waiting, timeout=self.bound_s)


class EventConsumer:
    """The service's consumer group over every topic it subscribes to."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: ServiceSettings,
        service: str,
        subscriptions: Iterable[Subscription],
        publish_raw: PublishRaw,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.service = service
        self.by_topic = {subscription.topic: subscription for subscription in subscriptions}
        self.publish_raw = publish_raw
        self.retry = Retry(settings.kafka_consumer_max_retries + 1, settings.kafka_retry_backoff_ms)
        self._gate = asyncio.Semaphore(settings.kafka_consumer_concurrency)
        self._lanes: _Lanes | None = None
        self._restart = asyncio.Event()
        self._broker_lost = False  # the next consumer reads its partitions from their start
        self._stopping = asyncio.Event()
        self._outage_streak = 0
        self._commit_failures = 0

    # -- life cycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until `stop`; `broker_lost` (the broker forgot its state) rejoins afresh."""
        if not self.by_topic:
            await self._stopping.wait()
            return
        from_start = False
        while not self._stopping.is_set():
            self._restart.clear()
            from_start, self._broker_lost = from_start or self._broker_lost, False
            consumer = self._new_consumer()
            try:
                await consumer.start()
            except KafkaError as error:
                logger.warning("consumer could not start; will retry", extra={"error": repr(error)})
                await self._pause_or_stop(2.0)
                continue
            bound_s = self.settings.kafka_session_timeout_ms / 1000
            lanes = self._lanes = _Lanes(consumer, bound_s, from_start=from_start)
            from_start = False
            try:
                await self._consume(lanes)
            finally:
                await lanes.finish()
                with contextlib.suppress(KafkaError):
                    await consumer.stop()

    def broker_lost(self) -> None:
        """Leave the group and join again, reading each partition from its start: the broker
        lost its offsets and groups (and the logs they counted), and waiting for the client to
        notice takes minutes. The batches under way finish but commit nothing."""
        if self._lanes is not None:
            self._lanes.fence()
        self._broker_lost = True
        self._restart.set()

    async def stop(self) -> None:
        """Stop taking events; the batches in flight finish and commit first."""
        self._stopping.set()
        self._restart.set()

    def _new_consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        return AIOKafkaConsumer(
            client_id=self.service,
            group_id=self.service,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            metadata_max_age_ms=s.kafka_metadata_max_age_ms,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            # What a fetch may buffer: a few batches' worth, not aiokafka's 50 MiB.
            fetch_max_bytes=FETCH_MAX_BYTES,
            max_partition_fetch_bytes=FETCH_MAX_BYTES // 8,
            **client_options(s),
        )

    async def _pause_or_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: see shared/wakeup.py
                await self._stopping.wait()

    async def _consume(self, lanes: _Lanes) -> None:
        consumer = lanes.consumer
        consumer.subscribe(list(self.by_topic), listener=lanes)
        restart = asyncio.create_task(self._restart.wait())
        try:
            while not self._restart.is_set():
                fetch = asyncio.create_task(
                    consumer.getmany(
                        timeout_ms=self.settings.kafka_fetch_max_wait_ms,
                        max_records=self.settings.kafka_consumer_batch_size,
                    )
                )
                await asyncio.wait({fetch, restart}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, KafkaError):
                        await fetch
                    return
                try:
                    batches = fetch.result()
                except KafkaError as error:
                    logger.warning("fetch failed; will retry", extra={"error": repr(error)})
                    await self._pause_or_stop(1.0)
                    continue
                for tp, records in batches.items():
                    if records:
                        self._start_lane(lanes, tp, records)
        finally:
            restart.cancel()

    def _start_lane(
        self, lanes: _Lanes, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        lanes.consumer.pause(tp)
        previous = lanes.running.get(tp)
        lane = asyncio.create_task(self._lane(lanes, lanes.era, tp, records, previous))
        lanes.running[tp] = lane
        lane.add_done_callback(lambda done: self._lane_done(lanes, tp, done))

    def _lane_done(self, lanes: _Lanes, tp: TopicPartition, lane: asyncio.Task[None]) -> None:
        if lanes.running.get(tp) is lane:
            del lanes.running[tp]
        if not lane.cancelled() and lane.exception() is not None:
            logger.error("consumer lane crashed", exc_info=lane.exception())

    async def _lane(
        self,
        lanes: _Lanes,
        era: int,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        previous: asyncio.Task[None] | None,
    ) -> None:
        if previous is not None:  # a rebalance handed the partition back: keep its order
            await asyncio.wait([previous], timeout=lanes.bound_s)
        try:
            await self._handle(tp.topic, [_received(record) for record in records])
            await self._commit(lanes, era, tp, records[-1].offset + 1)
        except Exception:
            # Neither handled nor committed: read the batch again, after a pause, rather than
            # let the next batch's commit skip it.
            if self._owns(lanes, era, tp):
                lanes.consumer.seek(tp, records[0].offset)
            await asyncio.sleep(1.0)
            raise
        finally:
            if self._owns(lanes, era, tp):
                lanes.consumer.resume(tp)

    def _owns(self, lanes: _Lanes, era: int, tp: TopicPartition) -> bool:
        """The lane's consumer is still the current one and still has its partition, under the
        assignment that gave the lane its records (a lane that outlived a restart or a
        rebalance must not move positions counted since)."""
        return (
            self._lanes is lanes
            and lanes.era == era
            and not lanes.rebalancing
            and tp in lanes.consumer.assignment()
        )

    async def _commit(self, lanes: _Lanes, era: int, tp: TopicPartition, offset: int) -> None:
        """Commit after the effects did; a failed commit only means a harmless redelivery, and
        one called off (the partition went to a new assignment meanwhile) is no failure."""
        if not self._owns(lanes, era, tp):
            return  # handed over meanwhile: whoever has it now reads the batch again
        commit = lanes.commit({tp: offset})
        try:
            done, _ = await asyncio.wait(
                [commit], timeout=self.settings.kafka_request_timeout_ms / 1000
            )
        finally:
            commit.cancel()  # past its time, or the lane is stopped: no retry of it later
        if done and commit.cancelled():
            return
        failure = commit.exception() if done else TimeoutError("offset commit timed out")
        if failure is None:
            if self._commit_failures:
                logger.info("offset commits work again", extra={"failed": self._commit_failures})
                self._commit_failures = 0
            return
        if not isinstance(failure, KafkaError | TimeoutError):
            raise failure
        self._commit_failures += 1
        if self._commit_failures == 1:  # once per streak, not once per batch
            logger.warning(
                "offset commit failed; the events will be redelivered and skipped",
                extra={"topic": tp.topic, "partition": tp.partition, "error": repr(failure)},
            )

    # -- one batch -------------------------------------------------------------------------

    async def _handle(self, topic: str, batch: list[_Received]) -> None:
        """Apply the batch until it commits, then dead-letter what failed for good."""
        subscription = self.by_topic[topic]
        events = [item.event for item in batch if item.event is not None]
        while True:
            try:
                async with self._gate:
                    failed = await handle_batch(self.pool, subscription, events, self.retry)
                break
            except _BATCH_AGAIN as outage:
                self._outage_streak += 1
                logger.warning(
                    "event batch not handled (database unavailable or a lock conflict); will retry",
                    extra={"topic": topic, "events": len(events), "error": repr(outage)},
                )
                await asyncio.sleep(self.retry.backoff(self._outage_streak))
        self._outage_streak = 0
        for item in batch:
            error = item.invalid if item.event is None else failed.get(item.event.event_id)
            if error is not None:
                await self._dead_letter(topic, item, subscription, error)

    async def _dead_letter(
        self, topic: str, item: _Received, subscription: Subscription, error: str
    ) -> None:
        event = item.event
        logger.error(
            "event dead-lettered",
            extra={
                "topic": topic,
                "consumer": subscription.name,
                "error": error,
                # `remit trace` finds it under the request that caused the event.
                "request_id": event.request_id if event else None,
                "event_id": str(event.event_id) if event else None,
            },
        )
        headers = {
            **item.headers,
            HEADER_DLQ_ERROR: error[:2000],
            HEADER_DLQ_CONSUMER: subscription.name,
            HEADER_DLQ_ORIGINAL_TOPIC: topic,
        }
        while True:  # the offset is committed after this: a dead letter is never dropped
            try:
                await self.publish_raw(
                    dead_letter_topic(topic), item.record.key, item.record.value or b"", headers
                )
                return
            except KafkaError as failure:
                logger.warning(
                    "dead letter not published; retrying", extra={"error": repr(failure)}
                )
                await asyncio.sleep(1.0)


async def handle_batch(
    pool: asyncpg.Pool, subscription: Subscription, events: list[Envelope], retry: Retry
) -> dict[uuid.UUID, str]:
    """One transaction: the batch's dedup rows in one statement, then each new event's handler.
    Returns the events that failed for good, with their errors (they are not recorded as
    processed, so a replay of their dead letter runs them again).

    The handlers first run one after another without savepoints (two round trips fewer per
    event). Only if one of them fails is the batch rolled back and run again with a savepoint
    per event, so that the failing event is retried, and given up, alone."""
    if not events:
        return {}
    try:
        async with pool.acquire() as connection, connection.transaction():
            handled, failed = await _apply(connection, subscription, events, None)
    except _HandlerFailedError:
        async with pool.acquire() as connection, connection.transaction():
            handled, failed = await _apply(connection, subscription, events, retry)
    if logger.isEnabledFor(logging.INFO):  # a busy consumer's line per event, unless off
        for event, span in handled:  # committed now; said in the event's trace
            with trace.use_span(span):
                logger.info(
                    "event handled",
                    extra=_fields(event, subscription, request_id=event.request_id),
                )
    return failed


class _HandlerFailedError(Exception):
    """A handler failed in a batch run without savepoints: the batch runs again with them."""


async def _apply(
    connection: Connection,
    subscription: Subscription,
    events: list[Envelope],
    retry: Retry | None,
) -> tuple[list[tuple[Envelope, trace.Span]], dict[uuid.UUID, str]]:
    """Record the batch and run its new events; returns those handled and those failed.
    `retry` None: no savepoints, the first failure aborts the batch (`_HandlerFailedError`).
    The events the handlers enqueue are written to the outbox in one statement at the end."""
    with outbox.batched(connection) as outgoing:
        handled, failed = await _apply_each(connection, subscription, events, retry, outgoing)
        await outgoing.flush()
    return handled, failed


async def _apply_each(
    connection: Connection,
    subscription: Subscription,
    events: list[Envelope],
    retry: Retry | None,
    outgoing: outbox.OutboxBatch,
) -> tuple[list[tuple[Envelope, trace.Span]], dict[uuid.UUID, str]]:
    handled: list[tuple[Envelope, trace.Span]] = []
    failed: dict[uuid.UUID, str] = {}
    fresh: set[uuid.UUID] = {
        row["event_id"]
        for row in await connection.fetch(
            "INSERT INTO processed_events (consumer, event_id, event_type, request_id) "
            "SELECT $1, e.id, e.type, e.request_id "
            "FROM unnest($2::uuid[], $3::text[], $4::text[]) AS e(id, type, request_id) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            subscription.name,
            [event.event_id for event in events],
            [event.type for event in events],
            [event.request_id for event in events],
        )
    }
    new: list[Envelope] = []
    for event in events:
        if event.event_id not in fresh:
            logger.info("duplicate event skipped", extra=_fields(event, subscription))
            continue
        fresh.discard(event.event_id)  # the same event twice in one batch runs once
        new.append(event)
    if retry is None and subscription.handler_of_many is not None:
        return await _run_many(connection, subscription, subscription.handler_of_many, new), {}
    for event in new:
        with continued(
            _span_name(subscription),
            event.request_id,
            event.traceparent,
            trace.SpanKind.CONSUMER,
            _span_attributes(subscription),
        ):
            span = trace.get_current_span()
            if retry is None:
                await _run_plain(connection, subscription.handle(connection, event))
                error = None
            else:
                error = await _run(connection, subscription, event, retry, outgoing)
        if error is None:
            handled.append((event, span))
            continue
        await connection.execute(
            "DELETE FROM processed_events WHERE consumer = $1 AND event_id = $2",
            subscription.name,
            event.event_id,
        )
        failed[event.event_id] = error
    return handled, failed


def _span_name(subscription: Subscription) -> str:
    return f"{subscription.topic} process"


def _span_attributes(subscription: Subscription) -> dict[str, str]:
    return {"messaging.system": "kafka", "messaging.destination.name": subscription.topic}


async def _run_many(
    connection: Connection,
    subscription: Subscription,
    handler: HandlerOfMany,
    events: list[Envelope],
) -> list[tuple[Envelope, trace.Span]]:
    """The set-based handler over all new events, each in a consumer span of its own."""
    handlings = [
        Handling(
            event,
            continued_span(
                _span_name(subscription),
                event.traceparent,
                trace.SpanKind.CONSUMER,
                _span_attributes(subscription),
            ),
        )
        for event in events
    ]
    try:
        if handlings:
            await _run_plain(connection, handler(connection, handlings))
    finally:
        for handling in handlings:
            handling.span.end()
    return [(handling.event, handling.span) for handling in handlings]


async def _run_plain(connection: Connection, handling: Awaitable[None]) -> None:
    """A handler's run without a savepoint: its failure fails the batch's run."""
    try:
        await handling
    except Exception as failure:
        if _batch_again(connection, failure):
            raise _ConnectionLostError(repr(failure)) from failure
        raise _HandlerFailedError(repr(failure)) from failure


async def _run(
    connection: Connection,
    subscription: Subscription,
    event: Envelope,
    retry: Retry,
    outgoing: outbox.OutboxBatch,
) -> str | None:
    """Run the handler in a savepoint, retried; the error that outlasted the retries. The
    events a rolled-back run enqueued are dropped with it."""
    for attempt in range(1, retry.attempts + 1):
        mark = outgoing.mark()
        try:
            async with connection.transaction():
                await subscription.handle(connection, event)
        except Exception as failure:
            outgoing.discard_since(mark)
            if _batch_again(connection, failure):
                raise _ConnectionLostError(repr(failure)) from failure
            if attempt == retry.attempts:
                return repr(failure)
            logger.warning(
                "event handler failed; retrying",
                extra=_fields(event, subscription, attempt=attempt, error=repr(failure)),
            )
            await asyncio.sleep(retry.backoff(attempt))
            continue
        return None
    return None  # no attempts at all


def _fields(event: Envelope, subscription: Subscription, **extra: Any) -> Mapping[str, Any]:
    return {
        "event_id": str(event.event_id),
        "event_type": event.type,
        "consumer": subscription.name,
        **extra,
    }
