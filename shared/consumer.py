"""Idempotent, retried event handling with dead-lettering.

A handler runs inside one Postgres transaction together with the `(consumer, event_id)` row
in `processed_events`, so its effect and the record that it happened commit or roll back
together: a redelivered event finds the row and is skipped. A handler that keeps failing is
retried with exponential backoff, then the event goes to `<topic>.dlq` with the error and the
partition moves on. A failure while the database is unreachable is not the event's fault: the
message is not committed and comes back, with a growing pause, once the database is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace
from pydantic import ValidationError

from shared.db import DATABASE_ERRORS, Connection
from shared.events import HEADER_REQUEST_ID, Envelope, dead_letter_topic
from shared.settings import Settings
from shared.tracing import HEADER_TRACEPARENT, continued

logger = logging.getLogger(__name__)

Handler = Callable[[Connection, Envelope], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """`handler` runs for every event on `topic`, at most once per event id."""

    topic: str
    handler: Handler

    @property
    def consumer_name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


async def handle_once(pool: asyncpg.Pool, consumer: str, event: Envelope, handler: Handler) -> bool:
    """Run `handler` unless `consumer` already processed `event`; True when it ran."""
    async with pool.acquire() as connection, connection.transaction():
        first_time = await connection.fetchval(
            "INSERT INTO processed_events (consumer, event_id, event_type, request_id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
            consumer,
            event.event_id,
            event.type,
            event.request_id,
        )
        if not first_time:
            return False
        await handler(connection, event)
        return True


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the handler the raw bytes: a malformed event must reach our dead-lettering."""
    return message.body


class EventConsumer:
    """One Kafka consumer group per service, dispatching each topic to its subscription."""

    def __init__(
        self,
        broker: KafkaBroker,
        pool: asyncpg.Pool,
        settings: Settings,
        service: str,
        subscriptions: list[Subscription],
    ) -> None:
        self.broker = broker
        self.pool = pool
        self.settings = settings
        self.service = service
        self.by_topic = {subscription.topic: subscription for subscription in subscriptions}
        self._outage_streak = 0

    def register(self) -> None:
        if not self.by_topic:
            return
        self.broker.subscriber(
            *self.by_topic,
            group_id=self.service,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            decoder=_raw_body,
        )(self.consume)

    async def consume(self, body: bytes, message: KafkaMessage) -> None:
        topic = message.raw_message.topic  # type: ignore[union-attr]
        headers = {key: value for key, value in message.headers.items() if isinstance(value, str)}
        with continued(
            f"{topic} process",
            headers.get(HEADER_REQUEST_ID),
            headers.get(HEADER_TRACEPARENT),
            trace.SpanKind.CONSUMER,
            {"messaging.system": "kafka", "messaging.destination.name": topic},
        ):
            await self._dispatch(topic, message.raw_message.key, body, headers)  # type: ignore[union-attr]

    async def _dispatch(
        self, topic: str, key: bytes | None, body: bytes, headers: Mapping[str, str]
    ) -> None:
        subscription = self.by_topic[topic]
        try:
            event = Envelope.model_validate_json(body)
        except ValidationError as error:
            await self._dead_letter(
                topic, key, body, headers, subscription, f"invalid envelope: {error}"
            )
            return
        attempts = self.settings.kafka_consumer_max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                ran = await handle_once(
                    self.pool, subscription.consumer_name, event, subscription.handler
                )
            except Exception as error:
                if not await self._database_reachable():
                    # Not the event's fault: leave it uncommitted; the broker redelivers it.
                    self._outage_streak += 1
                    await asyncio.sleep(self._backoff(self._outage_streak))
                    raise
                if attempt == attempts:
                    await self._dead_letter(topic, key, body, headers, subscription, repr(error))
                    return
                logger.warning(
                    "event handler failed; retrying",
                    extra=self._log_fields(event, subscription, attempt=attempt, error=repr(error)),
                )
                await asyncio.sleep(self._backoff(attempt))
                continue
            self._outage_streak = 0
            message = "event handled" if ran else "duplicate event skipped"
            logger.info(message, extra=self._log_fields(event, subscription))
            return

    async def _database_reachable(self) -> bool:
        try:
            async with asyncio.timeout(self.settings.health_timeout_ms / 1000):
                await self.pool.fetchval("SELECT 1")
        except DATABASE_ERRORS:
            return False
        return True

    def _backoff(self, attempt: int) -> float:
        return float(min(self.settings.kafka_retry_backoff_ms * 2 ** (attempt - 1), 30_000) / 1000)

    async def _dead_letter(
        self,
        topic: str,
        key: bytes | None,
        body: bytes,
        headers: Mapping[str, str],
        subscription: Subscription,
        error: str,
    ) -> None:
        logger.error(
            "event dead-lettered",
            extra={"topic": topic, "consumer": subscription.consumer_name, "error": error},
        )
        await self.broker.publish(
            body,
            topic=dead_letter_topic(topic),
            key=key,
            headers={
                **headers,
                "x-dlq-error": error[:2000],
                "x-dlq-consumer": subscription.consumer_name,
                "x-dlq-original-topic": topic,
            },
        )

    @staticmethod
    def _log_fields(event: Envelope, subscription: Subscription, **extra: Any) -> dict[str, Any]:
        return {
            "event_id": str(event.event_id),
            "event_type": event.type,
            "consumer": subscription.consumer_name,
            **extra,
        }
