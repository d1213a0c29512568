"""Event handlers of the notifier service."""

from __future__ import annotations

import html
import logging

from services.notifier.email import send_email
from services.notifier.stores import messages
from shared.consumer import Subscription
from shared.db import Connection
from shared.events import Envelope
from shared.settings import get_settings

logger = logging.getLogger(__name__)


async def queue_message(connection: Connection, event: Envelope) -> None:
    """Queue a send request; a key seen before is not sent again (whatever the event id)."""
    if not await messages.queue(connection, event.payload):
        logger.info(
            "duplicate send request ignored",
            extra={"idempotency_key": event.payload.get("idempotencyKey")},
        )


async def send_password_reset(connection: Connection, event: Envelope) -> None:
    """Email the single-use reset link auth created."""
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
    await send_email(get_settings(), payload["email"], "Reset your Remit password", text, markup)


SUBSCRIPTIONS = (
    Subscription("auth.password_reset_requested", send_password_reset),
    Subscription("message.requested", queue_message),
)
