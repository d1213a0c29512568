"""Event handlers of the notifier service."""

from __future__ import annotations

import html
import logging

from services.notifier import events
from services.notifier.domain.outgoing import Outgoing
from services.notifier.stores import messages
from shared.consumer import Handling, Subscription
from shared.contracts import (
    DebtorResponded,
    InstalmentDue,
    MessageRequested,
    PasswordResetRequested,
)
from shared.db import Connection
from shared.events import Envelope

logger = logging.getLogger(__name__)


async def queue_messages(connection: Connection, requests: list[Handling]) -> None:
    """Queue send requests; a key seen before is not sent again (whatever the event id), but
    its result, if known, is published again: the asker may have missed it."""
    queued: list[messages.Queued] = []
    for handling in requests:
        with handling.within():
            request = handling.event.read(MessageRequested)
            queued.append(messages.Queued(Outgoing.requested(request)))
    fresh = await messages.queue_many(connection, queued)
    for handling, item, new in zip(requests, queued, fresh, strict=True):
        if new:
            continue
        key = item.outgoing.idempotency_key
        with handling.within():
            known = await messages.by_key(connection, key)
            told = known is not None and await events.tell_again(connection, known)
            logger.info(
                "duplicate send request: not sent again",
                extra={"idempotency_key": key, "result_published_again": told},
            )


async def send_password_reset(connection: Connection, event: Envelope) -> None:
    """Queue the email with the single-use link auth created (the email loop sends it): a
    password reset, or a new user's invitation to choose one."""
    reset = event.read(PasswordResetRequested)
    link = reset.reset_url
    expires = reset.expires_at.isoformat()
    if reset.purpose == "invitation":
        subject = "You are invited to Remit"
        text = (
            "An administrator created a Remit account for you.\n\n"
            f"Open this link to choose your password (it works once, until {expires}):\n"
            f"{link}\n\nIf you did not expect this, ignore this email.\n"
        )
        markup = (
            "<p>An administrator created a Remit account for you.</p>"
            f'<p><a href="{html.escape(link)}">Choose your password</a> '
            f"(the link works once, until {html.escape(expires)}).</p>"
            "<p>If you did not expect this, ignore this email.</p>"
        )
    else:
        subject = "Reset your Remit password"
        text = (
            "Someone asked to reset the password of your Remit account.\n\n"
            f"Open this link to choose a new one (it works once, until {expires}):\n"
            f"{link}\n\nIf it was not you, ignore this email; your password stays as it is.\n"
        )
        markup = (
            "<p>Someone asked to reset the password of your Remit account.</p>"
            f'<p><a href="{html.escape(link)}">Choose a new password</a> '
            f"(the link works once, until {html.escape(expires)}).</p>"
            "<p>If it was not you, ignore this email; your password stays as it is.</p>"
        )
    await messages.queue(
        connection,
        Outgoing(
            idempotency_key=f"password-reset:{event.event_id}",
            channel="email",
            to=reset.email,
            subject=subject,
            body=text,
            kind="account",
            html=markup,
        ),
    )


async def debtor_opted_out(connection: Connection, event: Envelope) -> None:
    """A channel the debtor stopped on their portal: their address or number on it goes on
    the suppression list, as a STOP reply does."""
    responded = event.read(DebtorResponded)
    if responded.intent != "opt_out" or not responded.channel or not responded.recipient:
        return
    await messages.suppress(
        connection,
        responded.channel,
        responded.recipient,
        "opt_out",
        "stopped on the debtor's portal",
    )


async def send_instalment_link(connection: Connection, event: Envelope) -> None:
    """Queue the pay link of a plan instalment falling due: by email, else (no address, or
    email stopped) SMS; a collection message, so every guard applies (suppression, the
    contact window, consent)."""
    due = event.read(InstalmentDue)
    customer = due.customer
    what = (
        f"Instalment {due.number} of your payment plan for invoice {due.invoice_number}, "
        f"{due.amount} {due.currency}, is due today."
    )
    # By email, unless the debtor has none or stopped it: then by SMS.
    email = messages.recipient_key(customer.email) if customer.email else None
    by_email = email is not None and (
        messages.suppression_from(
            await messages.suppressions_of(connection, [email]), "email", email
        )
        is None
    )
    to = customer.email if by_email else customer.phone
    if to is None:
        logger.warning(
            "no address for an instalment's link", extra={"instalment_id": str(due.instalment_id)}
        )
        return
    await messages.queue(
        connection,
        Outgoing(
            idempotency_key=f"instalment-due:{due.instalment_id}",
            channel="email" if by_email else "sms",
            to=to,
            subject=f"Instalment {due.number} of invoice {due.invoice_number} is due today"
            if by_email
            else None,
            body=f"Hello {customer.contact_name},\n\n{what}\nPay it here: {due.pay_link}\n"
            if by_email
            else f"{what} Pay: {due.pay_link}",
            timezone=customer.timezone,
            campaign_id=due.campaign_id,
            customer_id=customer.id,
            payment_id=due.payment_id,
        ),
    )


SUBSCRIPTIONS = (
    Subscription("auth.password_reset_requested", "send-password-reset", send_password_reset),
    Subscription("message.requested", "queue-message", handler_of_many=queue_messages),
    Subscription("debtor.responded", "portal-opt-out", debtor_opted_out),
    Subscription("plan.instalment_due", "instalment-link", send_instalment_link),
)
