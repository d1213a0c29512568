"""The agents' events (services/agents/events.py): built from their contracts, with the payloads
on the wire exactly as the service has always written them (keys, values, null vs absent)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from services.agents import events
from tests.helpers import assert_reads_back

TASK: dict[str, Any] = {
    "id": uuid.uuid4(),
    "campaign_id": uuid.uuid4(),
    "step_run_id": uuid.uuid4(),
    "customer_id": uuid.uuid4(),
    "channel": "email",
}
WIRE = {
    "taskId": str(TASK["id"]),
    "campaignId": str(TASK["campaign_id"]),
    "stepRunId": str(TASK["step_run_id"]),
    "customerId": str(TASK["customer_id"]),
    "channel": "email",
}


def test_task_events_carry_the_task_and_their_own_fields():
    agent_id = uuid.uuid4()
    made = [
        (events.task_created(TASK), WIRE),
        (events.task_assigned(TASK, agent_id), {**WIRE, "agentId": str(agent_id)}),
        (events.task_completed(TASK, "sent"), {**WIRE, "outcome": "sent"}),
        (
            events.task_completed(TASK, "promise_to_pay", date(2030, 1, 31)),
            {**WIRE, "outcome": "promise_to_pay", "promisedDate": "2030-01-31"},
        ),
        (
            events.task_completed(TASK, "delivered", None),
            {**WIRE, "outcome": "delivered", "promisedDate": None},
        ),
        (
            events.task_failed(TASK, "bounced", retryable=False, outcome_unknown=True, refused=False),
            {**WIRE, "reason": "bounced", "retryable": False, "outcomeUnknown": True,
             "refused": False},
        ),
    ]  # fmt: skip
    for event, wire in made:
        assert event.payload == wire, event.type
        assert_reads_back(event, "agents")
    assert "promisedDate" not in made[2][0].payload  # a message's result: absent, not null


def test_message_requested_from_a_task_and_again_from_its_kept_payload():
    customer_id, payment_id = str(uuid.uuid4()), str(uuid.uuid4())
    task = {
        **TASK,
        "channel": "sms",
        "step": {
            "customer": {"id": customer_id, "email": None, "phone": "+15005550006",
                         "timezone": "Europe/Paris"},
            "payment": {"id": payment_id},
        },
    }  # fmt: skip
    event = events.message_requested(task, "run:1:0", None, "Please pay", "template (no key)")
    assert event.type == "message.requested"
    assert event.payload == {
        "idempotencyKey": "run:1:0",
        "taskId": WIRE["taskId"],
        "campaignId": WIRE["campaignId"],
        "stepRunId": WIRE["stepRunId"],
        "customerId": customer_id,
        "paymentId": payment_id,
        "channel": "sms",
        "to": "+15005550006",
        "timezone": "Europe/Paris",
        "subject": None,
        "body": "Please pay",
        "composedBy": "template (no key)",
    }
    assert_reads_back(event, "agents")
    again = events.message_requested_again(event.payload)
    assert again.payload == event.payload and again.event_id != event.event_id


def test_reply_classified_sends_every_key():
    customer_id = uuid.uuid4()
    event = events.reply_classified(customer_id, None, "sms", "I paid", "paid", 0.9, None)
    assert event.payload == {
        "customerId": str(customer_id),
        "campaignId": None,
        "channel": "sms",
        "text": "I paid",
        "intent": "paid",
        "confidence": 0.9,
        "promisedDate": None,
    }
    assert_reads_back(event, "agents")


async def test_publish_keys_task_events_by_campaign_and_replies_by_customer():
    written: list[tuple[object, str]] = []

    class Connection:
        async def execute(self, _sql: str, ids, types, keys, *_texts) -> None:  # type: ignore[no-untyped-def]
            written.extend(zip(types, keys, strict=True))

    reply = events.reply_classified(TASK["customer_id"], None, "sms", "hi", "other", 0.3, None)
    await events.publish(Connection(), events.task_created(TASK), reply)  # type: ignore[arg-type]
    assert written == [
        ("task.created", str(TASK["campaign_id"])),
        ("reply.classified", str(TASK["customer_id"])),
    ]
