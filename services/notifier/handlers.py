"""Event handlers of the notifier service."""

from __future__ import annotations

import html
import logging

from services.notifier.stores import messages
from shared.consumer import Subscription
from shared.db import Connection
from shared.events import Envelope

logger = logging.getLogger(__name__)


async def queue_message(connection: Connection, event: Envelope) -> None:
    """Queue a send request; a key seen before is not sent again (whatever the event id), but
    its result, if known, is published again: the asker may have missed it."""
    if await messages.queue(connection, event.payload):
        return
    key = event.payload.get("idempotencyKey")
    known = await messages.by_key(connection, str(key))
    told = known is not None and await messages.tell_again(connection, known)
    logger.info(
        "duplicate send request: not sent again",
        extra={"idempotency_key": key, "result_published_again": told},
    )


async def send_password_reset(connection: Connection, event: Envelope) -> None:
    """Queue the email with the single-use reset link auth created (the email loop sends it)."""
    payload = event.payload
    link = payload["resetUrl"]
    text = (
        "Someone asked to reset the password of your Remit account.\n\n"
        f"Open this link to choose a new one (it works once, until {payload['expiresAt']}):\n"
        f"{link}\n\nIf it was not you, ignore this email; your password stays as it is.\n"
    )
    markup = (
        "<p>Someone asked to reset the password of your Remit account.</p>"
        f'<p><a href="{html.escape(link)}">Choose a new password</a> '
        f"(the link works once, until {html.escape(payload['expiresAt'])}).</p>"
        "<p>If it was not you, ignore this email; your password stays as it is.</p>"
    )
    await messages.queue(
        connection,
        {
            "idempotencyKey": f"password-reset:{event.event_id}",
            "channel": "email",
            "to": payload["email"],
            "subject": "Reset your Remit password",
            "body": text,
        },
        kind="account",
        html=markup,
    )


SUBSCRIPTIONS = (
    Subscription("auth.password_reset_requested", "send-password-reset", send_password_reset),
    Subscription("message.requested", "queue-message", queue_message),
)
