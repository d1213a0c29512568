"""The Kafka broker (FastStream over aiokafka), configured once for every service."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import CloseReason
from aiokafka.errors import KafkaError, NodeNotReadyError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.produce import ProduceRequest
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import ServiceSettings
from shared.topics import check_topic_name

logger = logging.getLogger(__name__)
# What a broker that is down or unreachable raises at a client.
KAFKA_DOWN: tuple[type[Exception], ...] = (KafkaError, OSError, TimeoutError)

# Publishes (topic, key, value, headers) and returns once the broker has the message.
PublishRaw = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[None]]


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """How each of our aiokafka clients reaches the broker: its addresses and, when
    KAFKA_SECURITY_PROTOCOL says so, SASL (over TLS for SASL_SSL)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
    }
    if settings.kafka_security_protocol == "PLAINTEXT":
        return options
    assert settings.kafka_sasl_password is not None  # the settings require it
    options |= {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": settings.kafka_sasl_password.get_secret_value(),
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        options["ssl_context"] = create_ssl_context()
    return options


def _broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The same, as FastStream's broker takes it."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    assert settings.kafka_sasl_username and settings.kafka_sasl_password
    kind = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return kind[settings.kafka_sasl_mechanism](
        settings.kafka_sasl_username,
        settings.kafka_sasl_password.get_secret_value(),
        use_ssl=settings.kafka_security_protocol == "SASL_SSL",
    )


def create_broker(settings: ServiceSettings, client_id: str) -> KafkaBroker:
    """acks=all and no linger: an awaited publish means the broker has the event.

    Idempotent producers are off because Tansu rejects them; duplicates are absorbed by the
    idempotent consumers instead (docs/architecture.md).
    """
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=0,
        enable_idempotence=False,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        security=_broker_security(settings),
        allow_auto_create_topics=False,
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


# The most a produce request may carry (aiokafka's default `max_request_size`): a larger event
# is refused before it is sent.
MAX_REQUEST_BYTES = 1024 * 1024
# The most one batch the outbox relay builds may hold.
RELAY_BATCH_BYTES = 256 * 1024


def create_relay_producer(settings: ServiceSettings, client_id: str) -> AIOKafkaProducer:
    """The outbox relay's own producer, with the broker's guarantees (acks=all, no linger, no
    idempotence): the relay builds each partition's batches itself (`create_batch`) rather
    than handing over one event at a time. It never produces to a broker it has not asked
    for metadata since its connection closed (`metadata_first_on_new_connections`)."""
    producer = AIOKafkaProducer(
        **client_options(settings),
        client_id=f"{client_id}-relay",
        acks="all",
        linger_ms=0,
        enable_idempotence=False,
        max_batch_size=RELAY_BATCH_BYTES,
        max_request_size=MAX_REQUEST_BYTES,
    )
    metadata_first_on_new_connections(producer)
    return producer


def metadata_first_on_new_connections(producer: AIOKafkaProducer) -> None:
    """The producer asks the broker for its topics' metadata before it produces over a
    connection opened since one broke.

    Behind a new connection may be a new broker, started without topics. The embedded broker
    takes a produce request for a topic it does not have, then resets the partition's offsets
    when the topic is created (by a metadata request or another service's `ensure_topics`):
    events sent after that land inside the earlier batch's offsets, acknowledged and never
    read. A metadata request naming the topics creates them first (all the broker had: the
    producer's are among them). aiokafka asks for metadata before it retries on a new
    connection only when its last request for it succeeded (not while the broker was down),
    never before an idle producer sends, and then for all topics (which creates none). It has
    no hook for this: its client's close callback and `send` are wrapped."""
    client = producer.client
    closed, send = client._on_connection_closed, client.send
    stale = True

    def connection_closed(connection: object, reason: CloseReason) -> None:
        nonlocal stale
        if reason != CloseReason.SHUTDOWN:
            stale = True
            for topic in client.cluster.topics():
                client.add_topic(topic)
        closed(connection, reason)

    def metadata_updated(_: object) -> None:
        nonlocal stale
        stale = False

    async def send_after_metadata(node_id: int, request: object, **options: Any) -> Any:
        if stale and isinstance(request, ProduceRequest):
            await client.force_metadata_update()
            if stale:  # retried by aiokafka after its back-off, like any node not ready
                raise NodeNotReadyError("no metadata from the broker since a connection broke")
        return await send(node_id, request, **options)

    client._on_connection_closed = connection_closed
    client.cluster.add_listener(metadata_updated)
    client.send = send_after_metadata


def raw_publisher(broker: KafkaBroker) -> PublishRaw:
    """Publish bytes as they are (dead letters and their replays keep their exact form)."""

    async def publish(topic: str, key: bytes | None, value: bytes, headers: dict[str, str]) -> None:
        await broker.publish(value, topic=topic, key=key, headers=headers)

    return publish


async def ensure_topics(
    settings: ServiceSettings,
    topics: Iterable[str],
    partitions: int | None = None,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet; safe to run from every service at once."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [check_topic_name(t) for t in topics if t not in existing]
        for topic in missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service won the race
                await admin.create_topics(
                    [
                        NewTopic(
                            name=topic,
                            num_partitions=partitions or settings.kafka_topic_partitions,
                            replication_factor=settings.kafka_replication_factor,
                            topic_configs=config or {},
                        )
                    ]
                )
        if missing:
            logger.info("topics created", extra={"topics": missing})
    finally:
        await admin.close()
