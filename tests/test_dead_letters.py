"""Events a handler cannot process go to `<topic>.dlq` with the error; the partition moves on."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.events import Envelope


async def _dead_letters(settings, topic, wanted_keys, timeout=60):
    consumer = AIOKafkaConsumer(
        f"{topic}.dlq",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"dlq-reader-{uuid.uuid4().hex}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    found: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while not wanted_keys <= set(found):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if record.key and record.key.decode() in wanted_keys:
                            found[record.key.decode()] = record
    finally:
        await consumer.stop()
    return found


async def test_poison_and_failing_events_are_dead_lettered_without_blocking(settings):
    from tests.helpers import eventually
    from tests.test_event_flow import _directory_row  # same read model, same helper

    poison_key, failing_key, good_user = (
        "poison-" + uuid.uuid4().hex,
        "failing-" + uuid.uuid4().hex,
        uuid.uuid4(),
    )
    failing = Envelope(
        type="user.created", producer="tests", payload={"email": "no-user-id@example.com"}
    )
    good = Envelope(
        type="user.created",
        producer="tests",
        payload={
            "userId": str(good_user),
            "email": "after@example.com",
            "role": "viewer",
            "isActive": True,
        },
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        # Same partition for all three: the good one must not wait behind the bad ones forever.
        await producer.send_and_wait(
            "user.created", b"{not json", key=poison_key.encode(), partition=0
        )
        await producer.send_and_wait(
            "user.created",
            json.dumps(failing.model_dump(mode="json")).encode(),
            key=failing_key.encode(),
            partition=0,
        )
        await producer.send_and_wait(
            "user.created",
            json.dumps(good.model_dump(mode="json")).encode(),
            key=str(good_user).encode(),
            partition=0,
        )
    finally:
        await producer.stop()

    dead = await _dead_letters(settings, "user.created", {poison_key, failing_key})
    poison_headers = {k: v.decode() for k, v in dead[poison_key].headers}
    assert poison_headers["x-dlq-error"].startswith("invalid envelope")
    assert poison_headers["x-dlq-original-topic"] == "user.created"
    assert dead[poison_key].value == b"{not json"
    failing_headers = {k: v.decode() for k, v in dead[failing_key].headers}
    assert "KeyError" in failing_headers["x-dlq-error"]
    assert failing_headers["x-dlq-consumer"] == "services.agents.handlers.remember_user"
    await eventually(lambda: _directory_row(settings, good_user), lambda row: row is not None)
