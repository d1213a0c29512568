"""The notifier's events (services/notifier/events.py): built from their contracts, with the
payloads on the wire exactly as the service has always written them (keys, values, null vs
absent)."""

from __future__ import annotations

import uuid
from typing import Any

from services.notifier import events
from tests.helpers import assert_reads_back

MESSAGE: dict[str, Any] = {
    "id": uuid.uuid4(),
    "idempotency_key": "run:1:0",
    "task_id": uuid.uuid4(),
    "campaign_id": uuid.uuid4(),
    "customer_id": uuid.uuid4(),
    "channel": "sms",
}
WIRE = {
    "messageId": str(MESSAGE["id"]),
    "idempotencyKey": "run:1:0",
    "taskId": str(MESSAGE["task_id"]),
    "campaignId": str(MESSAGE["campaign_id"]),
    "customerId": str(MESSAGE["customer_id"]),
    "channel": "sms",
}


def test_message_events_carry_the_message_and_their_own_fields():
    own = {**MESSAGE, "task_id": None, "campaign_id": None, "customer_id": None}
    made = [
        (events.message_sent(MESSAGE, "SM1", True), {**WIRE, "providerId": "SM1", "simulated": True}),
        (events.message_delivered(MESSAGE, "SM1"), {**WIRE, "providerId": "SM1"}),
        (
            events.message_failed(MESSAGE, "suppressed", "opted out", retryable=False, refused=True),
            {**WIRE, "status": "suppressed", "reason": "opted out", "retryable": False,
             "outcomeUnknown": False, "refused": True},
        ),
        (
            events.message_failed(own, "unknown", "interrupted", retryable=False, unknown=True),
            {**WIRE, "taskId": None, "campaignId": None, "customerId": None, "status": "unknown",
             "reason": "interrupted", "retryable": False, "outcomeUnknown": True, "refused": False},
        ),
    ]  # fmt: skip
    for event, wire in made:
        assert event.payload == wire, event.type
        assert_reads_back(event, "notifier")


def test_reply_received_names_its_sender_from_and_their_time_zone():
    event = events.reply_received(
        MESSAGE["customer_id"], None, "sms", "+15005550006", "STOP", "Pacific/Auckland"
    )
    assert event.payload == {
        "customerId": WIRE["customerId"],
        "campaignId": None,
        "channel": "sms",
        "from": "+15005550006",
        "text": "STOP",
        "timezone": "Pacific/Auckland",
    }
    assert_reads_back(event, "notifier")


async def test_publish_keys_by_campaign_or_message_and_replies_by_customer():
    written: list[tuple[str, str]] = []

    class Connection:
        async def execute(self, _sql: str, _ids: Any, types: Any, keys: Any, *_texts: Any) -> None:
            written.extend(zip(types, keys, strict=True))

    own = {**MESSAGE, "campaign_id": None}
    await events.publish(
        Connection(),  # type: ignore[arg-type]
        events.message_delivered(MESSAGE, "SM1"),
        events.message_delivered(own, "SM2"),
        events.reply_received(MESSAGE["customer_id"], None, "sms", "+15005550006", "hi", "UTC"),
    )
    assert written == [
        ("message.delivered", WIRE["campaignId"]),
        ("message.delivered", WIRE["messageId"]),
        ("reply.received", WIRE["customerId"]),
    ]
