"""The payment provider's webhooks: Stripe tells of paid, failed and expired checkouts. Public:
Stripe's signature, checked by its SDK, is the credential; each event is handled once."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import stripe
from fastapi import APIRouter, Request, Response

from services.campaigns import operations
from services.campaigns.domain.money import from_minor
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import checkouts, payments
from shared.clock import clock
from shared.db import Connection
from shared.errors import ApiError
from shared.resources import Deps

router = APIRouter(tags=["webhooks"])
logger = logging.getLogger(__name__)
PAID = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
REFUNDED = "charge.refunded"
ENDED = {"checkout.session.async_payment_failed": "failed", "checkout.session.expired": "expired"}


@router.post("/payments/webhooks/stripe", status_code=200)
async def stripe_webhook(request: Request, deps: Deps) -> Response:
    """A checkout paid (a receipt, naming Stripe, with the payment intent as its reference),
    failed or expired. A delivery whose signature does not check is refused (400); one seen
    before is answered 200 and does nothing."""
    secret = campaigns_settings().stripe_webhook_secret
    if secret is None:
        raise ApiError(503, "Service unavailable", "Stripe webhooks are not configured here")
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature"), secret.get_secret_value()
        )
    except (stripe.SignatureVerificationError, ValueError):
        raise ApiError(400, "Bad Request", "The Stripe signature does not match") from None
    try:
        session: dict[str, Any] = event.data.object.to_dict()
    except AttributeError:
        raise ApiError(400, "Bad Request", "The Stripe event has no object") from None
    async with deps.pool.acquire() as connection, connection.transaction():
        if not await checkouts.first_delivery(connection, "stripe", event.id, event.type):
            return Response(status_code=200)
        if event.type == REFUNDED:
            await _refunded(connection, session)
            return Response(status_code=200)
        if event.type not in PAID and event.type not in ENDED:
            return Response(status_code=200)  # not one Remit acts on
        found = await checkouts.locked(
            connection,
            checkout_id=_uuid_or_none(session.get("client_reference_id")),
            session_id=str(session.get("id")),
        )
        if found is None:
            logger.warning("Stripe checkout not ours", extra={"session_id": session.get("id")})
            return Response(status_code=200)
        if event.type in ENDED:
            if found["status"] == "open":
                await checkouts.settle(connection, found["id"], ENDED[event.type])
        elif session.get("payment_status") == "paid":
            await _paid(connection, found, session)
    return Response(status_code=200)


async def _paid(connection: Connection, found: Any, session: dict[str, Any]) -> None:
    """The checkout's money arrived: a receipt for what Stripe charged, in the checkout's
    currency (a session charged in another one is logged for a person, not guessed at)."""
    currency = found["currency"].strip()
    if str(session.get("currency", "")).upper() != currency:
        logger.warning(
            "Stripe charged another currency: record the receipt by hand",
            extra={"checkout_id": str(found["id"]), "currency": session.get("currency")},
        )
        return
    amount = from_minor(int(session.get("amount_total") or 0), currency)
    reference = str(session.get("payment_intent") or session.get("id"))
    await operations.complete_checkout(connection, found, amount, reference, clock.now())


def _uuid_or_none(text: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text)) if text else None
    except ValueError:
        return None


async def _refunded(connection: Connection, charge: dict[str, Any]) -> None:
    """Stripe gave money back on a charge: its receipt (known by the payment intent) and the
    payment record go down by what is newly refunded; the record owes that again (its
    campaigns, ended when it was paid, stay ended: start a new one if it is to be chased)."""
    intent = charge.get("payment_intent")
    if not intent:
        return
    refunded = from_minor(int(charge.get("amount_refunded") or 0), str(charge.get("currency", "")))
    record = await payments.refund(connection, "stripe", str(intent), refunded)
    if record is None:
        logger.warning("Stripe refund matches no new receipt money", extra={"intent": intent})
        return
    logger.warning(
        "payment refunded by Stripe",
        extra={"payment_id": str(record["id"]), "amount_paid": str(record["amount_paid"])},
    )
