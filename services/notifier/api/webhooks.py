"""Twilio webhooks: delivery reports, inbound SMS (STOP handling) and call input. Each request
must carry a valid X-Twilio-Signature (the SDK's validator); a bad one changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from services.notifier import events
from services.notifier.domain.guards import is_stop, normalise_phone
from services.notifier.domain.outgoing import Outgoing
from services.notifier.settings import notifier_settings
from services.notifier.stores import consents, messages, webhooks
from shared.clock import clock
from shared.db import Connection
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps, Resources

# Twilio signs each request; one without a valid signature is refused with 403.
router = APIRouter(
    prefix="/webhooks/twilio", tags=["webhooks"], responses=error_responses(403, 503)
)
_TWIML: dict[int | str, dict[str, Any]] = {
    200: {"description": "TwiML", "content": {"application/xml": {"schema": {"type": "string"}}}}
}
STOP_CONFIRMATION = "You have been unsubscribed and will receive no more text messages from us."
_DELIVERED = {"delivered", "completed"}
_FAILED = {"failed", "undelivered", "busy", "no-answer", "canceled"}


async def _verified_form(request: Request, deps: Resources) -> dict[str, Any]:
    token = notifier_settings().twilio_auth_token
    if token is None:
        raise ApiError(
            503, "Service unavailable", "TWILIO_AUTH_TOKEN is not set; webhooks cannot be verified"
        )
    form = {key: str(value) for key, value in (await request.form()).items()}
    url = f"{deps.settings.public_url}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    signature = request.headers.get("x-twilio-signature", "")
    if not RequestValidator(token.get_secret_value()).validate(url, form, signature):
        raise ApiError(403, "Forbidden", "Invalid X-Twilio-Signature")
    return form


async def _first_time(connection: Connection, kind: str, provider_sid: str | None) -> bool:
    """Twilio may send a webhook again (and anyone holding a signed request may replay it):
    each inbound message or call input acts once. A request without a SID cannot be told
    apart from another and is taken as new."""
    return provider_sid is None or await webhooks.first_receipt(connection, kind, provider_sid)


def _twiml(body: str) -> Response:
    return Response(body, media_type="application/xml")


@router.post("/status", status_code=204, response_class=Response)
async def delivery_status(request: Request, deps: Deps) -> Response:
    form = await _verified_form(request, deps)
    sid = form.get("MessageSid") or form.get("CallSid")
    state = (form.get("MessageStatus") or form.get("CallStatus") or "").lower()
    async with deps.pool.acquire() as connection, connection.transaction():
        row = await messages.by_provider_id(connection, sid, lock=True)
        if row is not None and row["status"] in ("sent", "sending"):
            if state in _DELIVERED:
                await messages.set_state(
                    connection, row["id"], "delivered", delivered_at=clock.now()
                )
                await events.publish(connection, events.message_delivered(row, row["provider_id"]))
            elif state in _FAILED:
                reason = f"Twilio reports {state} ({form.get('ErrorCode') or 'no code'})"
                retryable = state != "undelivered"
                await messages.set_state(
                    connection,
                    row["id"],
                    "failed",
                    reason=reason,
                    retryable=retryable,
                    refused=False,
                )
                await events.publish(
                    connection, events.message_failed(row, "failed", reason, retryable=retryable)
                )
    return Response(status_code=204)


async def _reply(connection: Any, recipient: str, channel: str, text: str) -> None:
    """Tell the agents what the customer said, on the campaign they last heard from."""
    last = await messages.last_to(connection, recipient)
    if last is None:
        return
    reply = events.reply_received(
        last["customer_id"], last["campaign_id"], channel, recipient, text, last["timezone"]
    )
    await events.publish(connection, reply)


@router.post("/sms", response_class=Response, responses=_TWIML)
async def inbound_sms(request: Request, deps: Deps) -> Response:
    form = await _verified_form(request, deps)
    sender = normalise_phone(form.get("From", "")) or form.get("From", "")
    text = form.get("Body", "")
    stop = is_stop(text)
    async with deps.pool.acquire() as connection, connection.transaction():
        if not await _first_time(connection, "sms", form.get("MessageSid")):
            return _twiml(str(MessagingResponse()))
        if stop:
            await messages.suppress(connection, "sms", sender, "opt_out", "STOP received")
            await _confirm_opt_out(connection, sender, form.get("MessageSid") or uuid.uuid4().hex)
        await _reply(connection, sender, "sms", text)
    return _twiml(str(MessagingResponse()))


async def _confirm_opt_out(connection: Connection, recipient: str, inbound_sid: str) -> None:
    """One confirmation, even if Twilio retries the webhook (keyed by the inbound message),
    queued for the SMS send loop like the notifier's other account messages: no provider is
    called while Twilio waits for this webhook's answer, and the opt-out itself does not
    stop it (account messages pass the collection guards)."""
    await messages.queue(
        connection,
        Outgoing(
            idempotency_key=f"stop-confirmation:{inbound_sid}",
            channel="sms",
            to=recipient,
            body=STOP_CONFIRMATION,
            kind="account",
        ),
    )


@router.post("/voice/gather", response_class=Response, responses=_TWIML)
async def call_input(request: Request, deps: Deps) -> Response:
    form = await _verified_form(request, deps)
    digits, speech = form.get("Digits", ""), form.get("SpeechResult", "")
    text = speech or {"1": "I will pay", "2": "I want to speak to someone about this"}.get(
        digits, digits
    )
    async with deps.pool.acquire() as connection, connection.transaction():
        row = await messages.by_provider_id(connection, form.get("CallSid"))
        if row is not None and await _first_time(connection, "voice-gather", form.get("CallSid")):
            if row["payment_id"]:  # a person answered: Regulation F's quiet week starts
                await consents.record_conversation(connection, row["payment_id"], row["recipient"])
            await _reply(connection, row["recipient"], "voice", text)
    response = VoiceResponse()
    response.say("Thank you. Someone from our team will follow up. Goodbye.")
    return _twiml(str(response))
