"""A message to send, as the notifier queues it: asked for by an agent (`message.requested`), or
the notifier's own account email (a password-reset link) and opt-out confirmations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from shared.contracts import MessageRequested


@dataclass(frozen=True)
class Outgoing:
    """`kind` `account`: not a collection message (no collection guards, no List-Unsubscribe,
    never shown through the API, its text not kept once sent). Only the notifier itself queues
    one; no request from another service can skip the guards."""

    idempotency_key: str
    channel: Literal["email", "sms", "voice"]
    to: str
    body: str
    subject: str | None = None
    timezone: str = "UTC"
    task_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    payment_id: uuid.UUID | None = None
    kind: Literal["collection", "account"] = "collection"
    html: str | None = None

    @classmethod
    def requested(cls, request: MessageRequested) -> Outgoing:
        return cls(
            idempotency_key=request.idempotency_key,
            channel=request.channel,
            to=request.to or "",
            body=request.body,
            subject=request.subject,
            timezone=request.timezone,
            task_id=request.task_id,
            campaign_id=request.campaign_id,
            customer_id=request.customer_id,
            payment_id=request.payment_id,
        )
