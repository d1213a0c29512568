"""Which broker the platform is talking to, so that a broker which lost its data is noticed.

The embedded broker keeps topics, offsets and groups in memory: a restart forgets every event
it had not yet handed to a consumer. The platform does not rely on the broker to remember.
The first record of the one-partition topic `remit.broker_epoch` names the broker's epoch (the
first service to find the topic empty writes a fresh UUID; whoever wrote first wins, since
every service reads offset 0). A broker that lost its data has no such record, so it gets a
new epoch. On Apache Kafka the topic is created with unlimited retention, so its epoch never
changes.

The outbox records the epoch its rows were published under (its relay's position, and each
row marked on its own). When a service sees a new epoch
it publishes again every row published under an older one (consumers skip what they already
handled, by event id), rejoins its consumer group and says so once, in its log and health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.db import DATABASE_ERRORS
from shared.kafka import PublishRaw, client_options, ensure_topics
from shared.outbox import republish_older
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)

EPOCH_TOPIC = "remit.broker_epoch"
_PARTITION = TopicPartition(EPOCH_TOPIC, 0)


class BrokerEpoch:
    """The current broker epoch, as one service knows it, and what losing the last one cost."""

    def __init__(self, settings: ServiceSettings, publish_raw: PublishRaw) -> None:
        self.settings = settings
        self.publish_raw = publish_raw
        self.current: uuid.UUID | None = None
        self.known = asyncio.Event()
        self.lost_at: datetime | None = None
        self.republished = 0
        self._reader = _Reader(settings, publish_raw)
        self._republish = False  # rows of an older epoch still to be marked
        self._lost = False  # the consumer still to be told (rejoin, topics, relay)

    def describe(self) -> dict[str, Any]:
        return {
            "epoch": str(self.current) if self.current else None,
            "dataLostAt": self.lost_at.isoformat() if self.lost_at else None,
            "eventsRepublished": self.republished,
        }

    async def watch(
        self, pool: asyncpg.Pool, on_lost: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Check the broker's epoch every few seconds for the life of the service."""
        interval = self.settings.kafka_epoch_check_interval_ms / 1000
        failures = 0
        try:
            while True:
                try:
                    await self.check(pool, on_lost)
                except (KafkaError, TimeoutError, *DATABASE_ERRORS) as error:
                    failures += 1
                    if failures == 1 or not self.known.is_set():
                        # Until the epoch is known the outbox waits: say so.
                        logger.warning("broker epoch check failed", extra={"error": repr(error)})
                else:
                    failures = 0
                await asyncio.sleep(interval)
        finally:
            await self.close()

    async def check(
        self, pool: asyncpg.Pool, on_lost: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Read the broker's epoch once; a new one republishes what the old broker had.

        The new epoch is taken before the old rows are marked: a relay batch that committed
        under the old epoch meanwhile sees the change and marks its rows too (OutboxRelay).
        Each step is retried on the next check until it succeeded."""
        seen = await self._reader.epoch()
        if seen != self.current:
            self._lost = self._lost or self.current is not None
            self.current = seen
            self._republish = True
        if self._republish:
            republished = await republish_older(pool, seen)
            self._republish = False
            self.known.set()
            if republished or self._lost:
                self._lost = True
                self.lost_at = datetime.now(UTC)
                self.republished += republished
                logger.error(
                    "the broker lost its data (new broker epoch); events published to it "
                    "since the last epoch are published again and the consumer group is "
                    "joined afresh",
                    extra={"epoch": str(seen), "republished": republished},
                )
            else:
                logger.info("broker epoch", extra={"epoch": str(seen)})
        if self._lost:
            if on_lost is not None:
                await on_lost()
            self._lost = False

    async def close(self) -> None:
        await self._reader.close()


class _Reader:
    """Reads offset 0 of the epoch topic, writing a fresh epoch there if the topic is empty."""

    def __init__(self, settings: ServiceSettings, publish_raw: PublishRaw) -> None:
        self.settings = settings
        self.publish_raw = publish_raw
        self._consumer: AIOKafkaConsumer | None = None

    async def epoch(self) -> uuid.UUID:
        for _ in range(3):
            consumer = await self._started()
            consumer.seek(_PARTITION, 0)
            found = await consumer.getmany(_PARTITION, timeout_ms=1000, max_records=1)
            records = found.get(_PARTITION)
            if records:
                return uuid.UUID((records[0].value or b"").decode())
            # Empty or gone: this broker has no epoch yet (or was too slow to answer; a second
            # record is harmless, offset 0 decides). A fresh reader then sees the topic as it
            # is now, not as its metadata last said.
            await self._create_topic()
            await self.publish_raw(EPOCH_TOPIC, None, str(uuid.uuid4()).encode(), {})
            await self.close()
        raise TimeoutError("the broker epoch could not be read back")

    async def _create_topic(self) -> None:
        await ensure_topics(
            self.settings, [EPOCH_TOPIC], partitions=1, config={"retention.ms": "-1"}
        )

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            await self._create_topic()
            consumer = AIOKafkaConsumer(
                enable_auto_commit=False,
                metadata_max_age_ms=self.settings.kafka_metadata_max_age_ms,
                **client_options(self.settings),
            )
            await consumer.start()
            consumer.assign([_PARTITION])
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            with contextlib.suppress(KafkaError):
                await consumer.stop()
