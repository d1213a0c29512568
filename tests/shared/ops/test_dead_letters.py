"""Events a handler cannot process go to `<topic>.dlq` with the error; the partition moves on."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.events import Envelope
from tests.helpers import eventually, publish_raw, user_created


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
    from tests.agents_helpers import directory_row

    poison_key, failing_key, good_user = (
        "poison-" + uuid.uuid4().hex,
        "failing-" + uuid.uuid4().hex,
        uuid.uuid4(),
    )
    failing = Envelope(
        type="user.created", producer="tests", payload={"email": "no-user-id@example.com"}
    )
    good = user_created(good_user, "after@example.com")
    # One partition for all three: the good one must not wait behind the bad ones forever.
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "user.created",
        [
            (poison_key.encode(), b"{not json"),
            (failing_key.encode(), failing.model_dump_json().encode()),
            (str(good_user).encode(), good.model_dump_json().encode()),
        ],
        partition=0,
    )

    dead = await _dead_letters(settings, "user.created", {poison_key, failing_key})
    poison_headers = {k: v.decode() for k, v in dead[poison_key].headers}
    assert poison_headers["x-dlq-error"].startswith("invalid envelope")
    assert poison_headers["x-dlq-original-topic"] == "user.created"
    assert dead[poison_key].value == b"{not json"
    failing_headers = {k: v.decode() for k, v in dead[failing_key].headers}
    assert "validation errors for UserEventPayload" in failing_headers["x-dlq-error"]
    assert failing_headers["x-dlq-consumer"] == "remember-user"
    await eventually(lambda: directory_row(settings, good_user), lambda row: row is not None)
