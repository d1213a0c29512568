"""Every event the notifier publishes, each built from its contract (shared/contracts.py) and
put in the outbox by `publish`, in the transaction of the change it tells.

An event is stamped with the request ID and trace current when it is built: callers build it
where the change is made (a send's outcome in the send's trace). The `message.*` events are
keyed by the message's campaign (the message itself when it has none), `reply.received` by the
customer, so each one's events keep their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from shared.contracts import MessageDelivered, MessageFailed, MessageSent, ReplyReceived
from shared.db import Connection
from shared.events import Envelope, event_of
from shared.outbox import enqueue_many

# A row as asyncpg reads it, or any mapping with the same keys.
Row = asyncpg.Record | Mapping[str, Any]
PRODUCER = "notifier"


def _key(event: Envelope) -> str:
    if event.type == "reply.received":
        return str(event.payload["customerId"])
    return str(event.payload["campaignId"] or event.payload["messageId"])


async def publish(connection: Connection, *events: Envelope) -> None:
    """Put these events in the outbox, in this order, each keyed by its aggregate."""
    await enqueue_many(connection, [(event, _key(event)) for event in events])


def _message(message: Row) -> dict[str, Any]:
    """What every `message.*` event says of its message (task, campaign and customer null for
    the notifier's own messages)."""
    return {
        "message_id": message["id"],
        "idempotency_key": message["idempotency_key"],
        "task_id": message["task_id"],
        "campaign_id": message["campaign_id"],
        "customer_id": message["customer_id"],
        "channel": message["channel"],
    }


def message_sent(message: Row, provider_id: str, simulated: bool) -> Envelope:
    return event_of(
        MessageSent(**_message(message), provider_id=provider_id, simulated=simulated), PRODUCER
    )


def message_delivered(message: Row, provider_id: str) -> Envelope:
    return event_of(MessageDelivered(**_message(message), provider_id=provider_id), PRODUCER)


def message_failed(
    message: Row,
    status: str,
    reason: str,
    *,
    retryable: bool,
    unknown: bool = False,
    refused: bool = False,
) -> Envelope:
    """Why a message did not go out (or may have: `unknown`), and whether it was refused for a
    reason no retry can change."""
    return event_of(
        MessageFailed(
            **_message(message),
            status=status,
            reason=reason,
            retryable=retryable,
            outcome_unknown=unknown,
            refused=refused,
        ),
        PRODUCER,
    )


async def tell_again(connection: Connection, message: Row) -> bool:
    """Publish a settled message's result once more (whoever asked again may have missed it);
    False while it is still on its way (its result will be published when it settles)."""
    status = message["status"]
    if status == "delivered":
        told = message_delivered(message, message["provider_id"])
    elif status == "sent":
        told = message_sent(message, message["provider_id"], message["simulated"])
    elif status in ("failed", "bounced", "suppressed", "unknown"):
        told = message_failed(
            message,
            status,
            message["reason"],
            retryable=bool(message["retryable"]),
            unknown=status == "unknown",
            refused=message["refused"],
        )
    else:
        return False
    await publish(connection, told)
    return True


def reply_received(
    customer_id: uuid.UUID,
    campaign_id: uuid.UUID | None,
    channel: str,
    sender: str,
    text: str,
    timezone: str,
) -> Envelope:
    """What the customer answered (an inbound SMS, a call's key press or speech), from
    `sender`'s number, who lives in `timezone`."""
    return event_of(
        ReplyReceived(
            customer_id=customer_id,
            campaign_id=campaign_id,
            channel=channel,
            from_=sender,
            text=text,
            timezone=timezone,
        ),
        PRODUCER,
    )
